// RbfsService: the gRPC face of a Filesystem.
//
// Translates wire messages to Filesystem calls and back; every failure is
// answered in the reply's `err` field with the exact errno, so gRPC status
// codes stay reserved for transport trouble and for refusing a caller
// (UNAUTHENTICATED). Every handler asks the AccessPolicy (token, read-only
// export, root squash) before the Filesystem sees a request. The message
// conversions live in wire_conversion.h; gRPC runs Read through the
// zero-copy reply of read_reply.h.
#ifndef RBFS_SERVER_RPC_RBFS_SERVICE_H_
#define RBFS_SERVER_RPC_RBFS_SERVICE_H_

#include "common/wire_limits.h"
#include "protos/rbfs.grpc.pb.h"
#include "server/auth/access_policy.h"
#include "server/fs/filesystem.h"

namespace rbfs {

class RbfsService final : public Rbfs::Service {
 public:
  // Registers read_reply.h's ReadForWire, around Read, as the handler gRPC
  // runs for Read.
  explicit RbfsService(Filesystem* fs, AccessOptions access = {});

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

 private:
  Filesystem* const fs_;
  const AccessPolicy policy_;
};

}  // namespace rbfs

#endif  // RBFS_SERVER_RPC_RBFS_SERVICE_H_
