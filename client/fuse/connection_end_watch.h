// ConnectionEndWatch: runs a callback, on a thread of its own, once the
// kernel ends the FUSE connection of a descriptor.
//
// When a mount goes away (fusermount -u, umount, an abort), /dev/fuse polls
// POLLERR. libfuse's loop notices only when a worker reads, and it returns
// only after every worker has finished its request, so a worker blocked in
// a call to an unreachable server would keep the daemon alive for as long
// as the call retries (for ever on a hard mount). This watch lets the
// daemon bound those calls the moment nobody can wait for them any more.
// Polling with no events asked for wakes only on the end (or POLLHUP of a
// pipe, which the tests use).
#ifndef RBFS_CLIENT_FUSE_CONNECTION_END_WATCH_H_
#define RBFS_CLIENT_FUSE_CONNECTION_END_WATCH_H_

#include <functional>
#include <thread>

namespace rbfs {

class ConnectionEndWatch {
 public:
  // Watches `fd` (not owned; it must outlive the watch) and runs `on_end`
  // once when its connection ends, unless Stop() came first.
  ConnectionEndWatch(int fd, std::function<void()> on_end);
  // Stop()s.
  ~ConnectionEndWatch();

  ConnectionEndWatch(const ConnectionEndWatch&) = delete;
  ConnectionEndWatch& operator=(const ConnectionEndWatch&) = delete;

  // Ends the watch; returns once the thread (and any on_end running) is
  // done. Idempotent.
  void Stop();

 private:
  void Loop(int fd);

  std::function<void()> on_end_;
  // Written by Stop() to wake the thread.
  int stop_fd_ = -1;
  std::thread thread_;
};

}  // namespace rbfs

#endif  // RBFS_CLIENT_FUSE_CONNECTION_END_WATCH_H_
