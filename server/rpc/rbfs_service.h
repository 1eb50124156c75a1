// RbfsService: the gRPC face of a Filesystem.
//
// Translates wire messages to Filesystem calls and back; every failure is
// answered in the reply's `err` field with the exact errno, so gRPC status
// codes stay reserved for transport trouble and for refusing a caller
// (UNAUTHENTICATED). Every handler asks the AccessPolicy (token, read-only
// export, root squash) before the Filesystem sees a request. The message
// conversions live in wire_conversion.h; gRPC runs Read through the
// zero-copy reply of read_reply.h. Exchange, a callback-API stream
// (exchange_reactor.h), runs the same handlers for the requests multiplexed
// on it (Serve).
//
// Coherence: every successful change is published to the service's
// ChangeHub (origin: the call's "rbfs-session" metadata), and Watch, a
// callback-API stream (watch_reactor.h), sends each mount the changes of
// other sessions to what it holds. Replies a mount may cache carry as_of,
// the hub's sequence before the call read the filesystem.
#ifndef RBFS_SERVER_RPC_RBFS_SERVICE_H_
#define RBFS_SERVER_RPC_RBFS_SERVICE_H_

#include <cstdint>
#include <string>

#include "common/wire_limits.h"
#include "protos/rbfs.grpc.pb.h"
#include "server/auth/access_policy.h"
#include "server/fs/filesystem.h"
#include "server/rpc/call_metrics.h"
#include "server/rpc/change_hub.h"

namespace rbfs {

class RbfsService final
    : public Rbfs::WithCallbackMethod_Watch<
          Rbfs::WithCallbackMethod_Exchange<Rbfs::Service>> {
 public:
  // Registers read_reply.h's ReadForWire, around Read, as the handler gRPC
  // runs for Read.
  explicit RbfsService(Filesystem* fs, AccessOptions access = {},
                       ChangeHub::Options hub = DefaultHubOptions());
  // DetachFromCommits() unless done.
  ~RbfsService() override;

  // Stops hearing of the filesystem's commit failures: before the
  // filesystem goes, if it goes first.
  void DetachFromCommits();

  // The hub as rbfs-server runs it: a heartbeat every kWatchHeartbeat.
  static ChangeHub::Options DefaultHubOptions();

  // Ends every Watch stream with UNAVAILABLE (a later one right after its
  // message 1), so the server's Shutdown does not wait for them out; call
  // it before that Shutdown.
  void ShutdownWatches() { hub_.Shutdown(); }

  // For tests and benchmarks that watch without a stream.
  ChangeHub* hub() { return &hub_; }

  // Exports the server's metrics into `registry`, which must outlive the
  // service: per call (call_metrics.h) and the filesystem's state (volume
  // blocks, sessions and open handles, commits, invalidations queued).
  // Before the service serves its first call.
  void ExportMetrics(MetricsRegistry* registry);

  // The unary calls; each runs its handler below, as the Exchange stream
  // does for the calls it carries. gRPC calls Read through ReadForWire.
  grpc::Status Lookup(grpc::ServerContext* ctx, const LookupRequest* req,
                      EntryReply* reply) override {
    return Measured("Lookup", &RbfsService::LookupFor, ctx, req, reply);
  }
  grpc::Status GetAttr(grpc::ServerContext* ctx, const GetAttrRequest* req,
                       AttrReply* reply) override {
    return Measured("GetAttr", &RbfsService::GetAttrFor, ctx, req, reply);
  }
  grpc::Status SetAttr(grpc::ServerContext* ctx, const SetAttrRequest* req,
                       AttrReply* reply) override {
    return Measured("SetAttr", &RbfsService::SetAttrFor, ctx, req, reply);
  }
  grpc::Status MkNod(grpc::ServerContext* ctx, const MkNodRequest* req,
                     EntryReply* reply) override {
    return Measured("MkNod", &RbfsService::MkNodFor, ctx, req, reply);
  }
  grpc::Status MkDir(grpc::ServerContext* ctx, const MkDirRequest* req,
                     EntryReply* reply) override {
    return Measured("MkDir", &RbfsService::MkDirFor, ctx, req, reply);
  }
  grpc::Status Unlink(grpc::ServerContext* ctx, const UnlinkRequest* req,
                      ErrReply* reply) override {
    return Measured("Unlink", &RbfsService::UnlinkFor, ctx, req, reply);
  }
  grpc::Status RmDir(grpc::ServerContext* ctx, const RmDirRequest* req,
                     ErrReply* reply) override {
    return Measured("RmDir", &RbfsService::RmDirFor, ctx, req, reply);
  }
  grpc::Status Rename(grpc::ServerContext* ctx, const RenameRequest* req,
                      ErrReply* reply) override {
    return Measured("Rename", &RbfsService::RenameFor, ctx, req, reply);
  }
  grpc::Status Link(grpc::ServerContext* ctx, const LinkRequest* req,
                    EntryReply* reply) override {
    return Measured("Link", &RbfsService::LinkFor, ctx, req, reply);
  }
  grpc::Status Symlink(grpc::ServerContext* ctx, const SymlinkRequest* req,
                       EntryReply* reply) override {
    return Measured("Symlink", &RbfsService::SymlinkFor, ctx, req, reply);
  }
  grpc::Status ReadLink(grpc::ServerContext* ctx, const ReadLinkRequest* req,
                        ReadLinkReply* reply) override {
    return Measured("ReadLink", &RbfsService::ReadLinkFor, ctx, req, reply);
  }
  grpc::Status ReadDir(grpc::ServerContext* ctx, const ReadDirRequest* req,
                       ReadDirReply* reply) override {
    return Measured("ReadDir", &RbfsService::ReadDirFor, ctx, req, reply);
  }
  grpc::Status StatFs(grpc::ServerContext* ctx, const StatFsRequest* req,
                      StatFsReply* reply) override {
    return Measured("StatFs", &RbfsService::StatFsFor, ctx, req, reply);
  }
  grpc::Status Fsync(grpc::ServerContext* ctx, const FsyncRequest* req,
                     ErrReply* reply) override {
    return Measured("Fsync", &RbfsService::FsyncFor, ctx, req, reply);
  }
  grpc::Status Open(grpc::ServerContext* ctx, const OpenRequest* req,
                    AttrReply* reply) override {
    return Measured("Open", &RbfsService::OpenFor, ctx, req, reply);
  }
  grpc::Status Release(grpc::ServerContext* ctx, const ReleaseRequest* req,
                       ErrReply* reply) override {
    return Measured("Release", &RbfsService::ReleaseFor, ctx, req, reply);
  }
  grpc::Status Read(grpc::ServerContext* ctx, const ReadRequest* req,
                    ReadReply* reply) override {
    return Measured("Read", &RbfsService::ReadFor, ctx, req, reply);
  }
  grpc::Status Write(grpc::ServerContext* ctx, const WriteRequest* req,
                     WriteReply* reply) override {
    return Measured("Write", &RbfsService::WriteFor, ctx, req, reply);
  }
  grpc::Status GetXattr(grpc::ServerContext* ctx, const GetXattrRequest* req,
                        XattrReply* reply) override {
    return Measured("GetXattr", &RbfsService::GetXattrFor, ctx, req, reply);
  }
  grpc::Status ListXattr(grpc::ServerContext* ctx, const ListXattrRequest* req,
                         XattrReply* reply) override {
    return Measured("ListXattr", &RbfsService::ListXattrFor, ctx, req, reply);
  }
  grpc::Status SetXattr(grpc::ServerContext* ctx, const SetXattrRequest* req,
                        AttrReply* reply) override {
    return Measured("SetXattr", &RbfsService::SetXattrFor, ctx, req, reply);
  }
  grpc::Status RemoveXattr(grpc::ServerContext* ctx,
                           const RemoveXattrRequest* req,
                           AttrReply* reply) override {
    return Measured("RemoveXattr", &RbfsService::RemoveXattrFor, ctx, req,
                    reply);
  }
  grpc::Status Fallocate(grpc::ServerContext* ctx, const FallocateRequest* req,
                         AttrReply* reply) override {
    return Measured("Fallocate", &RbfsService::FallocateFor, ctx, req, reply);
  }
  grpc::Status CopyRange(grpc::ServerContext* ctx, const CopyRangeRequest* req,
                         WriteReply* reply) override {
    return Measured("CopyRange", &RbfsService::CopyRangeFor, ctx, req, reply);
  }
  grpc::Status Seek(grpc::ServerContext* ctx, const SeekRequest* req,
                    SeekReply* reply) override {
    return Measured("Seek", &RbfsService::SeekFor, ctx, req, reply);
  }
  grpc::Status Lock(grpc::ServerContext* ctx, const LockRequest* req,
                    LockReply* reply) override {
    return Measured("Lock", &RbfsService::LockFor, ctx, req, reply);
  }
  grpc::Status KeepAlive(grpc::ServerContext* ctx, const KeepAliveRequest* req,
                         KeepAliveReply* reply) override {
    return Measured("KeepAlive", &RbfsService::KeepAliveFor, ctx, req, reply);
  }
  grpc::Status Status(grpc::ServerContext* ctx, const StatusRequest* req,
                      StatusReply* reply) override {
    return Measured("Status", &RbfsService::StatusFor, ctx, req, reply);
  }
  grpc::ServerBidiReactor<WatchRequest, WatchReply>* Watch(
      grpc::CallbackServerContext* ctx) override;
  grpc::ServerBidiReactor<RequestBatch, ReplyBatch>* Exchange(
      grpc::CallbackServerContext* ctx) override;

 private:
  // Runs `handler` and, with metrics exported, counts and times it as a
  // call of `method`.
  template <typename Request, typename Reply>
  grpc::Status Measured(
      absl::string_view method,
      grpc::Status (RbfsService::*handler)(const grpc::ServerContextBase*,
                                           const Request*, Reply*),
      const grpc::ServerContextBase* ctx, const Request* req, Reply* reply) {
    if (metrics_ == nullptr) return (this->*handler)(ctx, req, reply);
    metrics_->Began();
    const absl::Time began = absl::Now();
    grpc::Status status = (this->*handler)(ctx, req, reply);
    metrics_->Ended(method, status.ok() ? reply->err() : CallMetrics::kRefused,
                    absl::Now() - began);
    if constexpr (std::is_same_v<Request, ReadRequest>) {
      metrics_->read_bytes()->Add(reply->data().size());
    } else if constexpr (std::is_same_v<Request, WriteRequest>) {
      metrics_->written_bytes()->Add(reply->written());
    }
    return status;
  }

  // The handlers, for a unary call or a request on the Exchange stream
  // `ctx`.
  grpc::Status LookupFor(const grpc::ServerContextBase* ctx,
                         const LookupRequest* req, EntryReply* reply);
  grpc::Status GetAttrFor(const grpc::ServerContextBase* ctx,
                          const GetAttrRequest* req, AttrReply* reply);
  grpc::Status SetAttrFor(const grpc::ServerContextBase* ctx,
                          const SetAttrRequest* req, AttrReply* reply);
  grpc::Status MkNodFor(const grpc::ServerContextBase* ctx,
                        const MkNodRequest* req, EntryReply* reply);
  grpc::Status MkDirFor(const grpc::ServerContextBase* ctx,
                        const MkDirRequest* req, EntryReply* reply);
  grpc::Status UnlinkFor(const grpc::ServerContextBase* ctx,
                         const UnlinkRequest* req, ErrReply* reply);
  grpc::Status RmDirFor(const grpc::ServerContextBase* ctx,
                        const RmDirRequest* req, ErrReply* reply);
  grpc::Status RenameFor(const grpc::ServerContextBase* ctx,
                         const RenameRequest* req, ErrReply* reply);
  grpc::Status LinkFor(const grpc::ServerContextBase* ctx,
                       const LinkRequest* req, EntryReply* reply);
  grpc::Status SymlinkFor(const grpc::ServerContextBase* ctx,
                          const SymlinkRequest* req, EntryReply* reply);
  grpc::Status ReadLinkFor(const grpc::ServerContextBase* ctx,
                           const ReadLinkRequest* req, ReadLinkReply* reply);
  grpc::Status ReadDirFor(const grpc::ServerContextBase* ctx,
                          const ReadDirRequest* req, ReadDirReply* reply);
  grpc::Status StatFsFor(const grpc::ServerContextBase* ctx,
                         const StatFsRequest* req, StatFsReply* reply);
  grpc::Status FsyncFor(const grpc::ServerContextBase* ctx,
                        const FsyncRequest* req, ErrReply* reply);
  grpc::Status OpenFor(const grpc::ServerContextBase* ctx,
                       const OpenRequest* req, AttrReply* reply);
  grpc::Status ReleaseFor(const grpc::ServerContextBase* ctx,
                          const ReleaseRequest* req, ErrReply* reply);
  grpc::Status ReadFor(const grpc::ServerContextBase* ctx,
                       const ReadRequest* req, ReadReply* reply);
  grpc::Status WriteFor(const grpc::ServerContextBase* ctx,
                        const WriteRequest* req, WriteReply* reply);
  grpc::Status GetXattrFor(const grpc::ServerContextBase* ctx,
                           const GetXattrRequest* req, XattrReply* reply);
  grpc::Status ListXattrFor(const grpc::ServerContextBase* ctx,
                            const ListXattrRequest* req, XattrReply* reply);
  grpc::Status SetXattrFor(const grpc::ServerContextBase* ctx,
                           const SetXattrRequest* req, AttrReply* reply);
  grpc::Status RemoveXattrFor(const grpc::ServerContextBase* ctx,
                              const RemoveXattrRequest* req, AttrReply* reply);
  grpc::Status FallocateFor(const grpc::ServerContextBase* ctx,
                            const FallocateRequest* req, AttrReply* reply);
  grpc::Status CopyRangeFor(const grpc::ServerContextBase* ctx,
                            const CopyRangeRequest* req, WriteReply* reply);
  grpc::Status SeekFor(const grpc::ServerContextBase* ctx,
                       const SeekRequest* req, SeekReply* reply);
  grpc::Status LockFor(const grpc::ServerContextBase* ctx,
                       const LockRequest* req, LockReply* reply);
  grpc::Status KeepAliveFor(const grpc::ServerContextBase* ctx,
                            const KeepAliveRequest* req, KeepAliveReply* reply);
  grpc::Status StatusFor(const grpc::ServerContextBase* ctx,
                         const StatusRequest* req, StatusReply* reply);
  // A successful Open's reply gets the file's contents if the request asked
  // for them and the file is small enough (OpenRequest.data_up_to).
  void AddOpenData(const OpenRequest& req, AttrReply* reply);
  // Reads [offset, offset + length) of `id` into `data`; when relatime moved
  // the atime, `reply`'s attr (a ReadReply's or an Open's AttrReply) gets
  // the file's attributes after the read.
  template <typename Reply>
  absl::Status ReadData(const InodeId& id, uint64_t offset, uint32_t length,
                        std::string* data, Reply* reply);
  // Answers one request of the Exchange stream `ctx`.
  void Serve(const grpc::ServerContextBase* ctx, const StreamRequest& request,
             StreamReply* reply);

  // The ino `name` in `parent` names now; 0 when none.
  uint64_t ChildOf(InodeRef parent, absl::string_view name);
  // ChildOf, but only when another session than `session` holds `parent`
  // (as it must to cache the child); 0 otherwise, saving the lookup.
  uint64_t WatchedChild(uint64_t session, const InodeId& parent,
                        absl::string_view name);
  // A successful MkNod's, MkDir's or Symlink's reply gets `as_of` (read
  // before the call) and the new entry is published.
  void PublishCreation(uint64_t session, uint64_t dir, absl::string_view name,
                       uint64_t as_of, EntryReply* reply);
  // Unlink's and RmDir's changes: the entry, and the removed child's
  // attributes (its nlink) when it was looked up (0: not).
  void PublishRemoval(uint64_t session, uint64_t dir, absl::string_view name,
                      uint64_t child);

  Filesystem* const fs_;
  // When the service was made, by fs_'s clock (Status' uptime).
  const absl::Time started_;
  // Whether fs_ calls this service when a commit fails.
  bool hears_commits_ = true;
  const AccessPolicy policy_;
  ChangeHub hub_;
  // Set by ExportMetrics before serving; null: not measured.
  std::unique_ptr<CallMetrics> metrics_;
};

}  // namespace rbfs

#endif  // RBFS_SERVER_RPC_RBFS_SERVICE_H_
