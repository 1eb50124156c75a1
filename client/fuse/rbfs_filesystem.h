// RbfsFilesystem: the FUSE low-level operations of rbfs-mount.
//
// Each operation turns into RPCs to rbfs-server and answers the kernel with
// the server's exact errno. Metadata operations are blocking calls on the
// FUSE worker thread; reads and writes are IoContexts whose chunks travel as
// asynchronous calls, so the worker returns at once and the reply is sent
// from the thread that completes the last chunk. The FUSE node id is the
// server's inode number; the InodeTable supplies generations, lookup and
// open counts. No lock is held across an RPC or a FUSE reply.
#ifndef RBFS_CLIENT_FUSE_RBFS_FILESYSTEM_H_
#define RBFS_CLIENT_FUSE_RBFS_FILESYSTEM_H_

#define FUSE_USE_VERSION 35
#include <fuse3/fuse_lowlevel.h>

#include <cstdint>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "client/core/buffer_pool.h"
#include "client/core/dir_attr_cache.h"
#include "client/core/inflight_limiter.h"
#include "client/core/inode_table.h"
#include "client/fuse/mount_options.h"
#include "client/rpc/client_session.h"
#include "client/rpc/rpc_client.h"
#include "protos/rbfs.pb.h"

namespace rbfs {

class RbfsFilesystem {
 public:
  // `chunk_size` is already a multiple of the server's block size.
  RbfsFilesystem(const MountOptions& options, uint32_t chunk_size,
                 RpcClient* rpc, ClientSession* session);

  RbfsFilesystem(const RbfsFilesystem&) = delete;
  RbfsFilesystem& operator=(const RbfsFilesystem&) = delete;

  // The operation table; the session's userdata must be this object.
  static const fuse_lowlevel_ops& Operations();

  // The session to send invalidations on; set before the session loop runs.
  void set_session(fuse_session* session) { session_ = session; }

  // Waits until no read or write is in flight or `timeout` passes, so the
  // session is not destroyed under a pending reply.
  bool WaitIdle(absl::Duration timeout);

  void Init(fuse_conn_info* conn);
  void Lookup(fuse_req_t req, fuse_ino_t parent, const char* name);
  void Forget(fuse_ino_t ino, uint64_t nlookup);
  void GetAttr(fuse_req_t req, fuse_ino_t ino);
  void SetAttr(fuse_req_t req, fuse_ino_t ino, const struct stat* attr,
               int to_set);
  void ReadLink(fuse_req_t req, fuse_ino_t ino);
  void MkNod(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode,
             dev_t rdev);
  void MkDir(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode);
  void Unlink(fuse_req_t req, fuse_ino_t parent, const char* name);
  void RmDir(fuse_req_t req, fuse_ino_t parent, const char* name);
  void Symlink(fuse_req_t req, const char* link, fuse_ino_t parent,
               const char* name);
  void Rename(fuse_req_t req, fuse_ino_t parent, const char* name,
              fuse_ino_t new_parent, const char* new_name, unsigned flags);
  void Link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t new_parent,
            const char* new_name);
  void Open(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi);
  void Create(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode,
              fuse_file_info* fi);
  void Read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t offset);
  void Write(fuse_req_t req, fuse_ino_t ino, const char* data, size_t size,
             off_t offset);
  void Release(fuse_req_t req, fuse_ino_t ino, uint64_t handle);
  void Fsync(fuse_req_t req, fuse_ino_t ino);
  void ReadDir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t offset,
               bool plus);
  void StatFs(fuse_req_t req);

 private:
  // Answers an entry-returning call: remembers the inode and replies, or
  // replies the error.
  void ReplyEntry(fuse_req_t req, const absl::Status& status,
                  const EntryReply& reply);
  void ReplyAttr(fuse_req_t req, const absl::Status& status,
                 const AttrReply& reply);
  fuse_entry_param MakeEntry(const Attr& attr) const;
  void SetOpenFlags(fuse_file_info* fi) const;
  // Tells the server one open handle of `id` is gone.
  void ReleaseOnServer(const InodeId& id, uint64_t handle);
  // A call numbered by the session, so that it may be repeated.
  template <typename Request, typename Reply>
  absl::Status NumberedCall(grpc::Status (Rbfs::Stub::*method)(
                                grpc::ClientContext*, const Request&, Reply*),
                            Request& request, Reply* reply);

  void BeginRequest();
  void EndRequest();

  const MountOptions options_;
  const uint32_t chunk_size_;
  RpcClient* const rpc_;
  ClientSession* const client_session_;
  fuse_session* session_ = nullptr;
  InodeTable inodes_;
  DirAttrCache dir_attrs_;
  BufferPool buffers_;
  InflightLimiter limiter_;

  absl::Mutex requests_mu_;
  // Guards active_requests_: reads and writes not yet answered.
  int64_t active_requests_ ABSL_GUARDED_BY(requests_mu_) = 0;
};

}  // namespace rbfs

#endif  // RBFS_CLIENT_FUSE_RBFS_FILESYSTEM_H_
