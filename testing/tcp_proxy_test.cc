#include "testing/tcp_proxy.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "testing/process.h"
#include "testing/test_data.h"

namespace rbfs::testing {
namespace {

// Long enough for bytes to cross three loopback hops on a loaded machine.
constexpr absl::Duration kArrival = absl::Seconds(5);
// How long a frozen proxy is watched for a byte that must not come.
constexpr absl::Duration kSilence = absl::Milliseconds(300);

// Echoes every connection's bytes back, one thread per connection, and
// counts what it received (to see that a frozen proxy delivers nothing).
class EchoServer {
 public:
  EchoServer() {
    listen_fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(addr);
    EXPECT_EQ(
        bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
    EXPECT_EQ(listen(listen_fd_, 128), 0);
    EXPECT_EQ(getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len),
              0);
    port_ = ntohs(addr.sin_port);
    acceptor_ = std::thread([this] { AcceptLoop(); });
  }

  ~EchoServer() {
    stop_ = true;
    acceptor_.join();
    close(listen_fd_);
    absl::MutexLock lock(&mu_);
    for (std::thread& t : connections_) t.join();
  }

  std::string address() const { return absl::StrCat("127.0.0.1:", port_); }
  int64_t bytes_received() const { return bytes_received_; }

 private:
  // Every wait polls with a short timeout so that the destructor's stop_
  // is seen within one.
  static constexpr int kPollMs = 20;

  void AcceptLoop() {
    while (!stop_) {
      pollfd p{listen_fd_, POLLIN, 0};
      if (poll(&p, 1, kPollMs) != 1) continue;
      const int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd < 0) continue;
      absl::MutexLock lock(&mu_);
      connections_.emplace_back([this, fd] { Serve(fd); });
    }
  }

  void Serve(int fd) {
    char buffer[16384];
    while (!stop_) {
      pollfd p{fd, POLLIN, 0};
      if (poll(&p, 1, kPollMs) != 1) continue;
      const ssize_t n = recv(fd, buffer, sizeof(buffer), 0);
      if (n <= 0) break;
      bytes_received_ += n;
      for (ssize_t sent = 0; sent < n;) {
        const ssize_t m = send(fd, buffer + sent, n - sent, MSG_NOSIGNAL);
        if (m <= 0) break;
        sent += m;
      }
    }
    close(fd);
  }

  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int64_t> bytes_received_{0};
  std::thread acceptor_;
  absl::Mutex mu_;
  std::vector<std::thread> connections_ ABSL_GUARDED_BY(mu_);
};

// A blocking socket connected to 127.0.0.1:port, or -1.
int Connect(int port) {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(port);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

bool SendAll(int fd, const std::string& data) {
  for (size_t sent = 0; sent < data.size();) {
    const ssize_t n =
        send(fd, data.data() + sent, data.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) return false;
    sent += n;
  }
  return true;
}

struct Received {
  std::string data;
  bool eof = false;  // the peer closed (or reset) the connection
};

// Reads until `want` bytes came, the peer closed, or `limit` passed.
Received ReadFor(int fd, size_t want, absl::Duration limit) {
  Received got;
  const absl::Time deadline = absl::Now() + limit;
  char buffer[65536];
  while (got.data.size() < want) {
    const absl::Duration left = deadline - absl::Now();
    if (left <= absl::ZeroDuration()) break;
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, static_cast<int>(absl::ToInt64Milliseconds(left)) + 1) !=
        1) {
      continue;
    }
    const ssize_t n = recv(fd, buffer, sizeof(buffer), 0);
    if (n <= 0) {
      got.eof = true;
      break;
    }
    got.data.append(buffer, n);
  }
  return got;
}

std::unique_ptr<TcpProxy> StartProxy(const std::string& target) {
  absl::StatusOr<std::unique_ptr<TcpProxy>> proxy = TcpProxy::Start(target);
  EXPECT_TRUE(proxy.ok()) << proxy.status();
  return proxy.ok() ? *std::move(proxy) : nullptr;
}

TEST(TcpProxyTest, ForwardsBytesBothWays) {
  EchoServer echo;
  std::unique_ptr<TcpProxy> proxy = StartProxy(echo.address());
  ASSERT_NE(proxy, nullptr);
  EXPECT_EQ(proxy->address(), absl::StrCat("127.0.0.1:", proxy->port()));
  const int fd = Connect(proxy->port());
  ASSERT_GE(fd, 0) << strerror(errno);
  ASSERT_TRUE(SendAll(fd, "hello"));
  const Received got = ReadFor(fd, 5, kArrival);
  EXPECT_EQ(got.data, "hello");
  EXPECT_FALSE(got.eof);
  EXPECT_EQ(proxy->accepted(), 1);
  close(fd);
}

TEST(TcpProxyTest, LargeTransferArrivesIntact) {
  // Far more than the proxy's and the sockets' buffers, so the proxy must
  // hold back reading while a side cannot take more.
  constexpr size_t kBytes = 8 << 20;
  EchoServer echo;
  std::unique_ptr<TcpProxy> proxy = StartProxy(echo.address());
  ASSERT_NE(proxy, nullptr);
  const int fd = Connect(proxy->port());
  ASSERT_GE(fd, 0);
  std::string data(kBytes, '\0');
  PatternFill(7, 0, data.data(), data.size());
  bool sent = false;
  std::thread sender([&] { sent = SendAll(fd, data); });
  const Received got = ReadFor(fd, kBytes, absl::Seconds(60));
  // Ends a send still blocked (bytes lost on the way), so the join is bounded.
  shutdown(fd, SHUT_RDWR);
  sender.join();
  EXPECT_TRUE(sent);
  ASSERT_EQ(got.data.size(), kBytes);
  EXPECT_TRUE(got.data == data) << "bytes differ";
  close(fd);
}

TEST(TcpProxyTest, FrozenMovesNoBytesUntilThawed) {
  EchoServer echo;
  std::unique_ptr<TcpProxy> proxy = StartProxy(echo.address());
  ASSERT_NE(proxy, nullptr);
  const int old_fd = Connect(proxy->port());
  ASSERT_GE(old_fd, 0);
  ASSERT_TRUE(SendAll(old_fd, "ping"));
  ASSERT_EQ(ReadFor(old_fd, 4, kArrival).data, "ping");

  proxy->Freeze();
  const int64_t echoed_before = echo.bytes_received();
  ASSERT_TRUE(SendAll(old_fd, "sent while frozen"));
  // A connection made during the partition is accepted but goes nowhere.
  const int new_fd = Connect(proxy->port());
  ASSERT_GE(new_fd, 0);
  ASSERT_TRUE(SendAll(new_fd, "new"));
  const Received old_frozen = ReadFor(old_fd, 1, kSilence);
  const Received new_frozen = ReadFor(new_fd, 1, kSilence);
  EXPECT_EQ(old_frozen.data, "");
  EXPECT_FALSE(old_frozen.eof) << "a frozen connection must stay open";
  EXPECT_EQ(new_frozen.data, "");
  EXPECT_FALSE(new_frozen.eof);
  EXPECT_EQ(echo.bytes_received(), echoed_before)
      << "bytes reached the server through a frozen proxy";

  proxy->Thaw();
  EXPECT_EQ(ReadFor(old_fd, 17, kArrival).data, "sent while frozen");
  EXPECT_EQ(ReadFor(new_fd, 3, kArrival).data, "new");

  // Frozen again, then thawed: the same connections carry on.
  proxy->Freeze();
  ASSERT_TRUE(SendAll(old_fd, "again"));
  EXPECT_EQ(ReadFor(old_fd, 1, kSilence).data, "");
  proxy->Thaw();
  EXPECT_EQ(ReadFor(old_fd, 5, kArrival).data, "again");
  close(old_fd);
  close(new_fd);
}

TEST(TcpProxyTest, EndOfStreamPassesThrough) {
  EchoServer echo;
  std::unique_ptr<TcpProxy> proxy = StartProxy(echo.address());
  ASSERT_NE(proxy, nullptr);
  const int fd = Connect(proxy->port());
  ASSERT_GE(fd, 0);
  ASSERT_TRUE(SendAll(fd, "bye"));
  // The echo server closes when it sees the end of our stream; the proxy
  // must carry both the half-close and the close, after the bytes.
  ASSERT_EQ(shutdown(fd, SHUT_WR), 0);
  const Received got = ReadFor(fd, 4, kArrival);
  EXPECT_EQ(got.data, "bye");
  EXPECT_TRUE(got.eof);
  close(fd);
}

TEST(TcpProxyTest, StopClosesConnectionsAndTheListener) {
  EchoServer echo;
  std::unique_ptr<TcpProxy> proxy = StartProxy(echo.address());
  ASSERT_NE(proxy, nullptr);
  const int fd = Connect(proxy->port());
  ASSERT_GE(fd, 0);
  ASSERT_TRUE(SendAll(fd, "x"));
  ASSERT_EQ(ReadFor(fd, 1, kArrival).data, "x");
  proxy->Freeze();  // stopping must not wait for a thaw
  proxy->Stop();
  const Received got = ReadFor(fd, 1, kArrival);
  EXPECT_EQ(got.data, "");
  EXPECT_TRUE(got.eof);
  EXPECT_LT(Connect(proxy->port()), 0);
  EXPECT_EQ(errno, ECONNREFUSED);
  proxy->Stop();
  close(fd);
}

TEST(TcpProxyTest, ConnectionsBeyondTheLimitAreClosed) {
  EchoServer echo;
  std::unique_ptr<TcpProxy> proxy = StartProxy(echo.address());
  ASSERT_NE(proxy, nullptr);
  std::vector<int> fds;
  for (int i = 0; i < TcpProxy::kMaxConnections; ++i) {
    const int fd = Connect(proxy->port());
    ASSERT_GE(fd, 0);
    fds.push_back(fd);
    ASSERT_TRUE(SendAll(fd, "a"));
    ASSERT_EQ(ReadFor(fd, 1, kArrival).data, "a") << "connection " << i;
  }
  const int extra = Connect(proxy->port());
  ASSERT_GE(extra, 0);
  ASSERT_TRUE(SendAll(extra, "b"));
  const Received got = ReadFor(extra, 1, kArrival);
  EXPECT_EQ(got.data, "");
  EXPECT_TRUE(got.eof);
  EXPECT_EQ(proxy->accepted(), TcpProxy::kMaxConnections);
  close(extra);
  // A closed connection frees its place.
  close(fds.back());
  fds.pop_back();
  bool admitted = false;
  for (const absl::Time until = absl::Now() + kArrival;
       !admitted && absl::Now() < until;) {
    const int fd = Connect(proxy->port());
    ASSERT_GE(fd, 0);
    admitted = SendAll(fd, "c") && ReadFor(fd, 1, kArrival).data == "c";
    close(fd);
  }
  EXPECT_TRUE(admitted);
  for (int fd : fds) close(fd);
}

TEST(TcpProxyTest, UnreachableTargetClosesTheClient) {
  absl::StatusOr<int> port = FreeLoopbackPort();
  ASSERT_TRUE(port.ok());
  std::unique_ptr<TcpProxy> proxy =
      StartProxy(absl::StrCat("127.0.0.1:", *port));
  ASSERT_NE(proxy, nullptr);
  const int fd = Connect(proxy->port());
  ASSERT_GE(fd, 0);
  const Received got = ReadFor(fd, 1, kArrival);
  EXPECT_TRUE(got.eof);
  EXPECT_EQ(proxy->accepted(), 0);
  close(fd);
}

TEST(TcpProxyTest, RejectsATargetWithoutPort) {
  EXPECT_EQ(TcpProxy::Start("localhost").status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace rbfs::testing
