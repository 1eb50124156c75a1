// TcpProxy: a loopback TCP forwarder for tests that cut the network under a
// client without killing either end.
//
// It listens on a free 127.0.0.1 port and forwards every connection it
// accepts to a target HOST:PORT, bytes both ways, half-closes passed on.
// Freeze() is a network partition: from its return on no byte moves in
// either direction, while every connection stays open (and new ones are
// still accepted), so neither end sees an error, only silence. Thaw() lets
// the bytes queued meanwhile flow again. One thread moves the bytes with
// poll(); at most kMaxConnections connections are forwarded at once (more
// are closed on accept), each with a fixed buffer per direction. Stop() (or
// the destructor) closes every connection and joins the thread.
#ifndef RBFS_TESTING_TCP_PROXY_H_
#define RBFS_TESTING_TCP_PROXY_H_

#include <netinet/in.h>
#include <sys/socket.h>

#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"

namespace rbfs::testing {

class TcpProxy {
 public:
  static constexpr int kMaxConnections = 64;

  // Starts forwarding to `target` ("HOST:PORT", e.g. "127.0.0.1:4000").
  static absl::StatusOr<std::unique_ptr<TcpProxy>> Start(
      const std::string& target);

  ~TcpProxy();

  TcpProxy(const TcpProxy&) = delete;
  TcpProxy& operator=(const TcpProxy&) = delete;

  // The port it listens on, and "127.0.0.1:PORT" for clients.
  int port() const { return port_; }
  std::string address() const;

  // Stops and restarts moving bytes; connections stay open throughout.
  void Freeze();
  void Thaw();

  // Connections accepted and forwarded so far (closed ones included).
  int64_t accepted() const;

  // Closes every connection and the listener, joins the thread. Idempotent.
  void Stop();

 private:
  struct Direction;
  struct Pair;

  TcpProxy(int listen_fd, int wake_fd, int port, sockaddr_storage target,
           socklen_t target_len);

  void Loop();
  void Wake();
  void AcceptOne();
  // Moves what the sockets allow for one pair; false once it is finished.
  bool Pump(Pair& pair, short client_events, short server_events);

  const int listen_fd_;
  const int wake_fd_;  // an eventfd that interrupts poll()
  const int port_;
  const sockaddr_storage target_;
  const socklen_t target_len_;
  // Only the loop thread touches the pairs, under mu_ while moving bytes, so
  // that Freeze() returning means no transfer is under way or will start.
  std::vector<std::unique_ptr<Pair>> pairs_;
  std::thread thread_;

  mutable absl::Mutex mu_;
  bool frozen_ ABSL_GUARDED_BY(mu_) = false;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  int64_t accepted_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace rbfs::testing

#endif  // RBFS_TESTING_TCP_PROXY_H_
