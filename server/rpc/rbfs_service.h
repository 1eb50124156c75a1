// RbfsService: the gRPC face of a Filesystem.
//
// Translates wire messages to Filesystem calls and back; every failure is
// answered in the reply's `err` field with the exact errno, so gRPC status
// codes stay reserved for transport trouble and for refusing a caller
// (UNAUTHENTICATED). Every handler asks the AccessPolicy (token, read-only
// export, root squash) before the Filesystem sees a request. The message
// conversions live in wire_conversion.h; gRPC runs Read through the
// zero-copy reply of read_reply.h. Exchange, a callback-API stream
// (exchange_reactor.h), runs the same Read and Write handlers for requests
// multiplexed on it.
//
// Coherence: every successful change is published to the service's
// ChangeHub (origin: the call's "rbfs-session" metadata), and Watch, a
// callback-API stream (watch_reactor.h), sends each mount the changes of
// other sessions to what it holds. Replies a mount may cache carry as_of,
// the hub's sequence before the call read the filesystem.
#ifndef RBFS_SERVER_RPC_RBFS_SERVICE_H_
#define RBFS_SERVER_RPC_RBFS_SERVICE_H_

#include "common/wire_limits.h"
#include "protos/rbfs.grpc.pb.h"
#include "server/auth/access_policy.h"
#include "server/fs/filesystem.h"
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

  // The hub as rbfs-server runs it: a heartbeat every kWatchHeartbeat.
  static ChangeHub::Options DefaultHubOptions();

  // Ends every Watch stream with UNAVAILABLE (a later one right after its
  // message 1), so the server's Shutdown does not wait for them out; call
  // it before that Shutdown.
  void ShutdownWatches() { hub_.Shutdown(); }

  // For tests and benchmarks that watch without a stream.
  ChangeHub* hub() { return &hub_; }

  grpc::Status Lookup(grpc::ServerContext*, const LookupRequest* req,
                      EntryReply* reply) override;
  grpc::Status GetAttr(grpc::ServerContext*, const GetAttrRequest* req,
                       AttrReply* reply) override;
  grpc::Status SetAttr(grpc::ServerContext*, const SetAttrRequest* req,
                       AttrReply* reply) override;
  grpc::Status MkNod(grpc::ServerContext*, const MkNodRequest* req,
                     EntryReply* reply) override;
  grpc::Status MkDir(grpc::ServerContext*, const MkDirRequest* req,
                     EntryReply* reply) override;
  grpc::Status Unlink(grpc::ServerContext*, const UnlinkRequest* req,
                      ErrReply* reply) override;
  grpc::Status RmDir(grpc::ServerContext*, const RmDirRequest* req,
                     ErrReply* reply) override;
  grpc::Status Rename(grpc::ServerContext*, const RenameRequest* req,
                      ErrReply* reply) override;
  grpc::Status Link(grpc::ServerContext*, const LinkRequest* req,
                    EntryReply* reply) override;
  grpc::Status Symlink(grpc::ServerContext*, const SymlinkRequest* req,
                       EntryReply* reply) override;
  grpc::Status ReadLink(grpc::ServerContext*, const ReadLinkRequest* req,
                        ReadLinkReply* reply) override;
  grpc::Status ReadDir(grpc::ServerContext*, const ReadDirRequest* req,
                       ReadDirReply* reply) override;
  grpc::Status StatFs(grpc::ServerContext*, const StatFsRequest* req,
                      StatFsReply* reply) override;
  grpc::Status Fsync(grpc::ServerContext*, const FsyncRequest* req,
                     ErrReply* reply) override;
  grpc::Status Open(grpc::ServerContext*, const OpenRequest* req,
                    AttrReply* reply) override;
  grpc::Status Release(grpc::ServerContext*, const ReleaseRequest* req,
                       ErrReply* reply) override;
  // Called directly by in-process users; gRPC calls it through ReadForWire.
  grpc::Status Read(grpc::ServerContext*, const ReadRequest* req,
                    ReadReply* reply) override;
  grpc::Status Write(grpc::ServerContext*, const WriteRequest* req,
                     WriteReply* reply) override;
  grpc::Status KeepAlive(grpc::ServerContext*, const KeepAliveRequest* req,
                         KeepAliveReply* reply) override;
  grpc::ServerBidiReactor<WatchRequest, WatchReply>* Watch(
      grpc::CallbackServerContext* ctx) override;
  grpc::ServerBidiReactor<RequestBatch, ReplyBatch>* Exchange(
      grpc::CallbackServerContext* ctx) override;

 private:
  // Read and Write for a unary call or a request on the Exchange stream
  // `ctx`.
  grpc::Status ReadFor(const grpc::ServerContextBase* ctx,
                       const ReadRequest& req, ReadReply* reply);
  grpc::Status WriteFor(const grpc::ServerContextBase* ctx,
                        const WriteRequest& req, WriteReply* reply);
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
  const AccessPolicy policy_;
  ChangeHub hub_;
};

}  // namespace rbfs

#endif  // RBFS_SERVER_RPC_RBFS_SERVICE_H_
