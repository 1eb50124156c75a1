#include "client/fuse/connection_end_watch.h"

#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <utility>

#include "common/log.h"

namespace rbfs {

ConnectionEndWatch::ConnectionEndWatch(int fd, std::function<void()> on_end)
    : on_end_(std::move(on_end)), stop_fd_(eventfd(0, EFD_CLOEXEC)) {
  if (stop_fd_ < 0) {
    LogWarning("cannot watch for the end of the FUSE connection: eventfd: %s",
               strerror(errno));
    return;
  }
  thread_ = std::thread([this, fd] { Loop(fd); });
}

ConnectionEndWatch::~ConnectionEndWatch() { Stop(); }

void ConnectionEndWatch::Stop() {
  if (thread_.joinable()) {
    const uint64_t one = 1;
    if (write(stop_fd_, &one, sizeof(one)) != sizeof(one)) {
      LogWarning("cannot stop the FUSE connection watch: %s", strerror(errno));
    }
    thread_.join();
  }
  if (stop_fd_ >= 0) {
    close(stop_fd_);
    stop_fd_ = -1;
  }
}

void ConnectionEndWatch::Loop(int fd) {
  pollfd fds[2] = {{fd, 0, 0}, {stop_fd_, POLLIN, 0}};
  for (;;) {
    if (poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      LogWarning("FUSE connection watch: poll: %s", strerror(errno));
      return;
    }
    if (fds[1].revents != 0) return;
    if ((fds[0].revents & (POLLERR | POLLHUP | POLLNVAL)) != 0) {
      on_end_();
      return;
    }
  }
}

}  // namespace rbfs
