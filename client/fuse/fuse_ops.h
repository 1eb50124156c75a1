// FuseOps: the libfuse low-level operation table of rbfs-mount.
//
// A thin adapter: each operation takes its arguments out of the FUSE request,
// calls the MountCore (client/core/mount_core.h), which does the work, and
// answers the kernel: the server's exact errno, or the attributes converted
// to struct stat / fuse_entry_param / struct statvfs with the mount's
// timeouts. Readdir entries go straight from the core's listing into the
// kernel's buffer (fuse_add_direntry), one copy. When a reply that hands the
// kernel a reference or a handle fails (the request was interrupted), the
// core is told to undo it. What only FUSE has stays here: the connection's
// capabilities (Init), the open flags (direct_io or the page cache), and
// telling the kernel to drop what it caches (KernelNotifier: the core's
// coherence calls it from the Watch stream's threads, never from a request
// handler).
#ifndef RBFS_CLIENT_FUSE_FUSE_OPS_H_
#define RBFS_CLIENT_FUSE_FUSE_OPS_H_

#define FUSE_USE_VERSION 35
#include <fuse3/fuse_lowlevel.h>

#include "client/core/mount_core.h"
#include "client/fuse/fuse_metrics.h"
#include "client/fuse/mount_options.h"

namespace rbfs {

class FuseOps : public KernelNotifier {
 public:
  // `core` outlives this object and the FUSE session. `mount_point`: where
  // the session is mounted, resolved (fuse_parse_cmdline's).
  FuseOps(const MountOptions& options, MountCore* core,
          std::string mount_point);

  FuseOps(const FuseOps&) = delete;
  FuseOps& operator=(const FuseOps&) = delete;

  // The operation table; the session's userdata must be this object.
  static const fuse_lowlevel_ops& Operations();

  // The session to send invalidations on; set before the session loop runs.
  void set_session(fuse_session* session) { session_ = session; }
  // The server keeps POSIX ACLs and applies the umask (StatFsReply
  // .keeps_acls); before the session starts.
  void set_server_keeps_acls(bool keeps) { server_keeps_acls_ = keeps; }

  void Init(fuse_conn_info* conn);
  void Lookup(fuse_req_t req, fuse_ino_t parent, const char* name);
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
  void Read(fuse_req_t req, fuse_ino_t ino, uint64_t handle, size_t size,
            off_t offset);
  void Write(fuse_req_t req, fuse_ino_t ino, const char* data, size_t size,
             off_t offset);
  void OpenDir(fuse_req_t req, fuse_file_info* fi);
  void Release(fuse_req_t req, fuse_ino_t ino, uint64_t handle);
  void Fsync(fuse_req_t req, fuse_ino_t ino);
  void ReadDir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t offset,
               bool plus);
  void StatFs(fuse_req_t req);
  void SetXattr(fuse_req_t req, fuse_ino_t ino, const char* name,
                const char* value, size_t size, int flags);
  void GetXattr(fuse_req_t req, fuse_ino_t ino, const char* name, size_t size);
  void ListXattr(fuse_req_t req, fuse_ino_t ino, size_t size);
  void RemoveXattr(fuse_req_t req, fuse_ino_t ino, const char* name);
  void GetLock(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi,
               struct flock* lock);
  void SetLock(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi,
               const struct flock* lock, bool sleep);
  void Flock(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi, int op);

  MountCore& core() { return *core_; }
  FuseMetrics& metrics() { return metrics_; }

  // KernelNotifier.
  void InvalidateEntry(uint64_t parent, absl::string_view name) override;
  void InvalidateInode(uint64_t ino, bool data) override;

 private:
  // Answers an entry-returning operation for the name `name` in `parent`;
  // a reply the kernel never got gives the lookup reference back. With
  // `negative`, ENOENT is answered as a negative entry the kernel caches.
  void ReplyEntry(fuse_req_t req, uint64_t parent, absl::string_view name,
                  const absl::StatusOr<Attr>& attr, bool negative = false);
  void ReplyAttr(fuse_req_t req, const absl::StatusOr<Attr>& attr);
  // A getxattr's or listxattr's answer to a buffer of `size` bytes: the
  // length when `size` is 0 (a probe), ERANGE when it does not fit.
  static void ReplyXattr(fuse_req_t req,
                         const absl::StatusOr<std::string>& value, size_t size);
  static fuse_entry_param MakeEntry(const Attr& attr,
                                    const CacheTimeouts& timeouts);
  void SetOpenFlags(fuse_file_info* fi) const;

  const MountOptions options_;
  MountCore* const core_;
  const std::string mount_point_;
  fuse_session* session_ = nullptr;
  FuseMetrics metrics_;
  // Without it (an older server) the kernel keeps applying the umask and
  // ACLs stay unsupported: the server would neither mask nor inherit.
  bool server_keeps_acls_ = false;
};

}  // namespace rbfs

#endif  // RBFS_CLIENT_FUSE_FUSE_OPS_H_
