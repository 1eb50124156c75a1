#include "testing/tcp_proxy.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace rbfs::testing {
namespace {

constexpr size_t kBufferBytes = 64 << 10;
constexpr int kConnectTimeoutMs = 1000;

bool WouldBlock() {
  return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR;
}

// Forwarded bytes must not wait for Nagle's algorithm: the tests measure
// how soon a change shows, in milliseconds.
void SetNoDelay(int fd) {
  const int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

// A non-blocking socket connected to `target` within kConnectTimeoutMs, or
// -1.
int ConnectTo(const sockaddr_storage& target, socklen_t target_len) {
  const int fd =
      socket(target.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  if (connect(fd, reinterpret_cast<const sockaddr*>(&target), target_len) !=
      0) {
    if (errno != EINPROGRESS) {
      close(fd);
      return -1;
    }
    pollfd p{fd, POLLOUT, 0};
    int error = 0;
    socklen_t len = sizeof(error);
    if (poll(&p, 1, kConnectTimeoutMs) != 1 ||
        getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &len) != 0 || error != 0) {
      close(fd);
      return -1;
    }
  }
  SetNoDelay(fd);
  return fd;
}

}  // namespace

// Bytes read from `from` and not yet written to `to`.
struct TcpProxy::Direction {
  Direction(int from, int to) : from(from), to(to), buffer(kBufferBytes) {}

  bool empty() const { return begin == end; }

  // Reads into the empty buffer when `from` is ready, then writes as much as
  // `to` takes at once; passes an end of stream on. False on a socket error.
  bool Move(short from_events) {
    if ((from_events & (POLLIN | POLLHUP | POLLERR)) && empty() && !eof) {
      const ssize_t n = recv(from, buffer.data(), buffer.size(), 0);
      if (n > 0) {
        begin = 0;
        end = static_cast<size_t>(n);
      } else if (n == 0) {
        eof = true;
      } else if (!WouldBlock()) {
        return false;
      }
    }
    if (!empty()) {
      const ssize_t n =
          send(to, buffer.data() + begin, end - begin, MSG_NOSIGNAL);
      if (n > 0) {
        begin += static_cast<size_t>(n);
        if (empty()) begin = end = 0;
      } else if (n < 0 && !WouldBlock()) {
        return false;
      }
    }
    if (eof && empty() && !shut) {
      shutdown(to, SHUT_WR);
      shut = true;
    }
    return true;
  }

  // Done: `from` ended and everything it sent reached `to`, which was told.
  bool done() const { return shut; }

  int from;
  int to;
  std::vector<char> buffer;
  size_t begin = 0;
  size_t end = 0;
  bool eof = false;
  bool shut = false;
};

struct TcpProxy::Pair {
  Pair(int client, int server)
      : client(client),
        server(server),
        up(client, server),
        down(server, client) {}
  ~Pair() {
    close(client);
    close(server);
  }
  Pair(const Pair&) = delete;
  Pair& operator=(const Pair&) = delete;

  // What poll() should wait for on `fd`; 0 when nothing, so that a socket
  // with nothing left to do cannot make poll() return at once forever.
  short Events(int fd) const {
    short events = 0;
    for (const Direction* d : {&up, &down}) {
      if (d->from == fd && d->empty() && !d->eof) events |= POLLIN;
      if (d->to == fd && !d->empty()) events |= POLLOUT;
    }
    return events;
  }

  int client;
  int server;
  Direction up;    // client -> server
  Direction down;  // server -> client
};

absl::StatusOr<std::unique_ptr<TcpProxy>> TcpProxy::Start(
    const std::string& target) {
  const size_t colon = target.rfind(':');
  if (colon == std::string::npos || colon == 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("target is not HOST:PORT: ", target));
  }
  const std::string host = target.substr(0, colon);
  const std::string service = target.substr(colon + 1);
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV;
  addrinfo* found = nullptr;
  const int gai = getaddrinfo(host.c_str(), service.c_str(), &hints, &found);
  if (gai != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot resolve ", target, ": ", gai_strerror(gai)));
  }
  sockaddr_storage target_addr{};
  const socklen_t target_len = found->ai_addrlen;
  memcpy(&target_addr, found->ai_addr, target_len);
  freeaddrinfo(found);

  const int listen_fd =
      socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (listen_fd < 0) return absl::InternalError("socket failed");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  if (bind(listen_fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
      listen(listen_fd, kMaxConnections) != 0 ||
      getsockname(listen_fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    const int error = errno;
    close(listen_fd);
    return absl::InternalError(
        absl::StrCat("listen on 127.0.0.1: ", strerror(error)));
  }
  const int wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (wake_fd < 0) {
    close(listen_fd);
    return absl::InternalError("eventfd failed");
  }
  return std::unique_ptr<TcpProxy>(new TcpProxy(
      listen_fd, wake_fd, ntohs(addr.sin_port), target_addr, target_len));
}

TcpProxy::TcpProxy(int listen_fd, int wake_fd, int port,
                   sockaddr_storage target, socklen_t target_len)
    : listen_fd_(listen_fd),
      wake_fd_(wake_fd),
      port_(port),
      target_(target),
      target_len_(target_len) {
  thread_ = std::thread([this] { Loop(); });
}

TcpProxy::~TcpProxy() {
  Stop();
  close(wake_fd_);
}

std::string TcpProxy::address() const {
  return absl::StrCat("127.0.0.1:", port_);
}

void TcpProxy::Freeze() {
  {
    absl::MutexLock lock(&mu_);
    frozen_ = true;
  }
  Wake();
}

void TcpProxy::Thaw() {
  {
    absl::MutexLock lock(&mu_);
    frozen_ = false;
  }
  Wake();
}

int64_t TcpProxy::accepted() const {
  absl::MutexLock lock(&mu_);
  return accepted_;
}

void TcpProxy::Stop() {
  if (!thread_.joinable()) return;
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  Wake();
  thread_.join();
  close(listen_fd_);
}

void TcpProxy::Wake() {
  const uint64_t one = 1;
  // Fails only when the counter is already non-zero: the loop wakes anyway.
  (void)!write(wake_fd_, &one, sizeof(one));
}

void TcpProxy::AcceptOne() {
  const int client =
      accept4(listen_fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
  if (client < 0) return;
  if (pairs_.size() >= kMaxConnections) {
    close(client);
    return;
  }
  const int server = ConnectTo(target_, target_len_);
  if (server < 0) {
    close(client);
    return;
  }
  SetNoDelay(client);
  pairs_.push_back(std::make_unique<Pair>(client, server));
  absl::MutexLock lock(&mu_);
  ++accepted_;
}

bool TcpProxy::Pump(Pair& pair, short client_events, short server_events) {
  if (!pair.up.Move(client_events) || !pair.down.Move(server_events)) {
    return false;
  }
  return !(pair.up.done() && pair.down.done());
}

void TcpProxy::Loop() {
  std::vector<pollfd> fds;
  // For each polled pair, the index of its client's and its server's pollfd
  // in `fds` (-1: not polled, nothing to wait for on that socket).
  std::vector<std::pair<int, int>> slots;
  while (true) {
    bool frozen;
    {
      absl::MutexLock lock(&mu_);
      if (stopping_) break;
      frozen = frozen_;
    }
    fds.assign({{wake_fd_, POLLIN, 0}, {listen_fd_, POLLIN, 0}});
    slots.clear();
    if (!frozen) {
      for (const std::unique_ptr<Pair>& pair : pairs_) {
        std::pair<int, int> slot = {-1, -1};
        if (const short events = pair->Events(pair->client); events != 0) {
          slot.first = static_cast<int>(fds.size());
          fds.push_back({pair->client, events, 0});
        }
        if (const short events = pair->Events(pair->server); events != 0) {
          slot.second = static_cast<int>(fds.size());
          fds.push_back({pair->server, events, 0});
        }
        slots.push_back(slot);
      }
    }
    // No timeout: Freeze, Thaw and Stop write the eventfd.
    if (poll(fds.data(), fds.size(), -1) < 0) continue;
    if (fds[0].revents & POLLIN) {
      uint64_t count;
      (void)!read(wake_fd_, &count, sizeof(count));
    }
    if (!frozen) {
      absl::MutexLock lock(&mu_);
      // Frozen since the poll set was made: move nothing.
      if (!frozen_) {
        std::vector<std::unique_ptr<Pair>> kept;
        for (size_t i = 0; i < slots.size(); ++i) {
          const short client_events =
              slots[i].first < 0 ? 0 : fds[slots[i].first].revents;
          const short server_events =
              slots[i].second < 0 ? 0 : fds[slots[i].second].revents;
          if (Pump(*pairs_[i], client_events, server_events)) {
            kept.push_back(std::move(pairs_[i]));
          }
        }
        pairs_ = std::move(kept);
      }
    }
    if (fds[1].revents & POLLIN) AcceptOne();
  }
  pairs_.clear();
}

}  // namespace rbfs::testing
