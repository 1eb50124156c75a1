// End-to-end data-path tests: large files, O_DIRECT with libaio and io_uring
// (many requests in flight), parallel writers, all through the kernel.
#include <fcntl.h>
#include <libaio.h>
#include <liburing.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "testing/mount_fixture.h"
#include "testing/test_data.h"

namespace rbfs {
namespace {

constexpr size_t kMiB = 1 << 20;

// Every test runs on both transports: the default Exchange streams and the
// unary calls kept as -o transport=unary.
struct StreamTransport {
  static constexpr const char* kMountOptions = "";
};
struct UnaryTransport {
  static constexpr const char* kMountOptions = "transport=unary";
};

template <typename Transport>
class MountIoTest : public SharedClusterTest<MountIoTest<Transport>> {
 public:
  static constexpr const char* kMountOptions = Transport::kMountOptions;
};

class TransportNames {
 public:
  template <typename T>
  static std::string GetName(int) {
    return std::is_same_v<T, StreamTransport> ? "Stream" : "Unary";
  }
};

using Transports = ::testing::Types<StreamTransport, UnaryTransport>;
TYPED_TEST_SUITE(MountIoTest, Transports, TransportNames);

// Page-aligned memory for O_DIRECT.
struct AlignedBuffer {
  explicit AlignedBuffer(size_t size) : size(size) {
    void* p = nullptr;
    if (posix_memalign(&p, 4096, size) != 0) abort();
    data = static_cast<char*>(p);
  }
  ~AlignedBuffer() { free(data); }
  AlignedBuffer(const AlignedBuffer&) = delete;
  AlignedBuffer& operator=(const AlignedBuffer&) = delete;
  char* data;
  size_t size;
};

TYPED_TEST(MountIoTest, LargeFileRoundTripsWithMatchingChecksums) {
  constexpr size_t kFileBytes = 256 * kMiB;
  constexpr uint64_t kSeed = 256;
  const std::string path = this->cluster_->Path("large");
  const int fd = open(path.c_str(), O_CREAT | O_RDWR | O_TRUNC, 0644);
  ASSERT_GE(fd, 0) << strerror(errno);
  std::string buffer(kMiB, '\0');
  Checksum64 written;
  for (size_t offset = 0; offset < kFileBytes; offset += kMiB) {
    PatternFill(kSeed, offset, buffer.data(), kMiB);
    written.Update(buffer.data(), kMiB);
    ASSERT_EQ(write(fd, buffer.data(), kMiB), static_cast<ssize_t>(kMiB))
        << strerror(errno);
  }
  struct stat st;
  ASSERT_EQ(fstat(fd, &st), 0);
  EXPECT_EQ(st.st_size, static_cast<off_t>(kFileBytes));
  ASSERT_EQ(lseek(fd, 0, SEEK_SET), 0);
  Checksum64 read_back;
  size_t total = 0;
  ssize_t n;
  while ((n = read(fd, buffer.data(), kMiB)) > 0) {
    read_back.Update(buffer.data(), n);
    total += n;
  }
  ASSERT_EQ(n, 0) << strerror(errno);
  EXPECT_EQ(total, kFileBytes);
  EXPECT_EQ(read_back.value(), written.value());
  ASSERT_EQ(close(fd), 0);
  ASSERT_EQ(unlink(path.c_str()), 0);
}

// An asynchronous I/O interface with up to 32 requests in flight.
class AsyncIo {
 public:
  virtual ~AsyncIo() = default;
  virtual void Submit(size_t slot, bool write, char* buffer, size_t size,
                      off_t offset) = 0;
  // Waits for at least one completion; returns (slot, result) pairs.
  virtual std::vector<std::pair<size_t, long>> Reap() = 0;
};

class LibaioIo : public AsyncIo {
 public:
  LibaioIo(int fd, size_t depth) : fd_(fd), iocbs_(depth) {
    EXPECT_EQ(io_setup(static_cast<int>(depth), &ctx_), 0);
  }
  ~LibaioIo() override { io_destroy(ctx_); }
  void Submit(size_t slot, bool write, char* buffer, size_t size,
              off_t offset) override {
    iocb* cb = &iocbs_[slot];
    if (write) {
      io_prep_pwrite(cb, fd_, buffer, size, offset);
    } else {
      io_prep_pread(cb, fd_, buffer, size, offset);
    }
    cb->data = reinterpret_cast<void*>(slot);
    iocb* list[1] = {cb};
    ASSERT_EQ(io_submit(ctx_, 1, list), 1);
  }
  std::vector<std::pair<size_t, long>> Reap() override {
    io_event events[32];
    timespec timeout = {60, 0};
    const int n = io_getevents(ctx_, 1, 32, events, &timeout);
    EXPECT_GT(n, 0) << "no completion within 60 s";
    std::vector<std::pair<size_t, long>> done;
    for (int i = 0; i < n; ++i) {
      done.push_back({reinterpret_cast<size_t>(events[i].data),
                      static_cast<long>(events[i].res)});
    }
    return done;
  }

 private:
  const int fd_;
  io_context_t ctx_ = nullptr;
  std::vector<iocb> iocbs_;
};

class UringIo : public AsyncIo {
 public:
  UringIo(int fd, size_t depth) : fd_(fd) {
    EXPECT_EQ(io_uring_queue_init(static_cast<unsigned>(depth), &ring_, 0), 0);
  }
  ~UringIo() override { io_uring_queue_exit(&ring_); }
  void Submit(size_t slot, bool write, char* buffer, size_t size,
              off_t offset) override {
    io_uring_sqe* sqe = io_uring_get_sqe(&ring_);
    ASSERT_NE(sqe, nullptr);
    if (write) {
      io_uring_prep_write(sqe, fd_, buffer, size, offset);
    } else {
      io_uring_prep_read(sqe, fd_, buffer, size, offset);
    }
    io_uring_sqe_set_data64(sqe, slot);
    ASSERT_EQ(io_uring_submit(&ring_), 1);
  }
  std::vector<std::pair<size_t, long>> Reap() override {
    std::vector<std::pair<size_t, long>> done;
    io_uring_cqe* cqe = nullptr;
    __kernel_timespec timeout = {60, 0};
    EXPECT_EQ(io_uring_wait_cqe_timeout(&ring_, &cqe, &timeout), 0)
        << "no completion within 60 s";
    while (cqe != nullptr) {
      done.push_back({static_cast<size_t>(io_uring_cqe_get_data64(cqe)),
                      static_cast<long>(cqe->res)});
      io_uring_cqe_seen(&ring_, cqe);
      cqe = nullptr;
      if (io_uring_peek_cqe(&ring_, &cqe) != 0) break;
    }
    return done;
  }

 private:
  const int fd_;
  io_uring ring_;
};

// Random O_DIRECT writes then reads, 32 in flight, with offsets and sizes
// that are multiples of 512 but not of the chunk size, checked byte for byte
// against an in-memory model of the file.
void RandomDirectIo(const std::string& path,
                    std::unique_ptr<AsyncIo> (*make)(int fd, size_t depth)) {
  constexpr size_t kDepth = 32;
  constexpr size_t kRegion = kMiB;  // in-flight writes never share a region
  constexpr size_t kRegions = 64;
  constexpr size_t kFileBytes = kRegions * kRegion;
  constexpr int kRequestsPerPhase = 600;
  std::mt19937_64 rng(4242);

  // Sized up front: the kernel runs size-extending direct writes
  // synchronously, and this test is about requests in flight.
  const int fd =
      open(path.c_str(), O_CREAT | O_RDWR | O_TRUNC | O_DIRECT, 0644);
  ASSERT_GE(fd, 0) << strerror(errno);
  ASSERT_EQ(ftruncate(fd, kFileBytes), 0);
  std::string model(kFileBytes, '\0');
  std::unique_ptr<AsyncIo> io = make(fd, kDepth);
  std::vector<std::unique_ptr<AlignedBuffer>> buffers;
  for (size_t i = 0; i < kDepth; ++i) {
    buffers.push_back(std::make_unique<AlignedBuffer>(kRegion));
  }

  struct Request {
    size_t region;
    off_t offset;
    size_t size;
  };
  std::vector<Request> in_flight(kDepth);
  std::vector<bool> region_busy(kRegions, false);
  auto pick = [&](bool write) {
    size_t region;
    do {
      region = rng() % kRegions;
    } while (write && region_busy[region]);
    const size_t start = 512 * (rng() % (kRegion / 512 - 1));
    size_t size = 512 * (1 + rng() % ((kRegion - start) / 512));
    if (size % (256 << 10) == 0) size -= 512;
    if (size == 0) size = 512;
    return Request{region, static_cast<off_t>(region * kRegion + start), size};
  };

  for (bool write : {true, false}) {
    int submitted = 0;
    int completed = 0;
    std::vector<size_t> free_slots;
    for (size_t i = 0; i < kDepth; ++i) free_slots.push_back(i);
    auto submit = [&](size_t slot) {
      Request r = pick(write);
      in_flight[slot] = r;
      char* buf = buffers[slot]->data;
      if (write) {
        region_busy[r.region] = true;
        PatternFill(rng(), r.offset, buf, r.size);
        model.replace(r.offset, r.size, buf, r.size);
      }
      io->Submit(slot, write, buf, r.size, r.offset);
      ++submitted;
    };
    while (!free_slots.empty() && submitted < kRequestsPerPhase) {
      submit(free_slots.back());
      free_slots.pop_back();
    }
    while (completed < submitted) {
      std::vector<std::pair<size_t, long>> done = io->Reap();
      ASSERT_FALSE(done.empty());
      for (const auto& [slot, result] : done) {
        ++completed;
        const Request& r = in_flight[slot];
        ASSERT_EQ(result, static_cast<long>(r.size))
            << (write ? "write" : "read") << " at " << r.offset << ": "
            << (result < 0 ? strerror(-result) : "short");
        if (write) {
          region_busy[r.region] = false;
        } else {
          ASSERT_EQ(
              memcmp(buffers[slot]->data, model.data() + r.offset, r.size), 0)
              << "read at " << r.offset << " size " << r.size;
        }
        if (submitted < kRequestsPerPhase) submit(slot);
      }
    }
  }
  io.reset();
  ASSERT_EQ(close(fd), 0);

  // A buffered pass over the whole file against the model.
  const int check = open(path.c_str(), O_RDONLY);
  ASSERT_GE(check, 0);
  std::string all(kFileBytes, '\0');
  size_t got = 0;
  while (got < kFileBytes) {
    const ssize_t n = pread(check, all.data() + got, kFileBytes - got, got);
    ASSERT_GT(n, 0);
    got += n;
  }
  close(check);
  EXPECT_TRUE(all == model) << "file differs from the model";
  ASSERT_EQ(unlink(path.c_str()), 0);
}

TYPED_TEST(MountIoTest, DirectIoWithLibaio) {
  RandomDirectIo(this->cluster_->Path("libaio"), [](int fd, size_t depth) {
    return std::unique_ptr<AsyncIo>(new LibaioIo(fd, depth));
  });
}

TYPED_TEST(MountIoTest, DirectIoWithIoUring) {
  RandomDirectIo(this->cluster_->Path("uring"), [](int fd, size_t depth) {
    return std::unique_ptr<AsyncIo>(new UringIo(fd, depth));
  });
}

TYPED_TEST(MountIoTest, EightThreadsWriteDisjointRangesOfOneFile) {
  constexpr int kThreads = 8;
  constexpr size_t kRange = 8 * kMiB;
  constexpr size_t kWrite = 300 * 1024 + 123;  // crosses chunk boundaries
  constexpr uint64_t kSeed = 8;
  const std::string path = this->cluster_->Path("shared");
  const int fd = open(path.c_str(), O_CREAT | O_RDWR | O_TRUNC, 0644);
  ASSERT_GE(fd, 0);
  std::vector<std::thread> threads;
  std::vector<int> errors(kThreads, 0);
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      std::string buffer(kWrite, '\0');
      for (size_t done = 0; done < kRange; done += kWrite) {
        const size_t size = std::min(kWrite, kRange - done);
        const off_t offset = t * kRange + done;
        PatternFill(kSeed, offset, buffer.data(), size);
        if (pwrite(fd, buffer.data(), size, offset) !=
            static_cast<ssize_t>(size)) {
          errors[t] = errno ? errno : EIO;
          return;
        }
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  for (int t = 0; t < kThreads; ++t) EXPECT_EQ(errors[t], 0) << "thread " << t;
  struct stat st;
  ASSERT_EQ(fstat(fd, &st), 0);
  ASSERT_EQ(st.st_size, static_cast<off_t>(kThreads * kRange));
  std::string expected(kMiB, '\0');
  std::string actual(kMiB, '\0');
  for (size_t offset = 0; offset < kThreads * kRange; offset += kMiB) {
    PatternFill(kSeed, offset, expected.data(), kMiB);
    ASSERT_EQ(pread(fd, actual.data(), kMiB, offset),
              static_cast<ssize_t>(kMiB));
    ASSERT_TRUE(actual == expected) << "mismatch in MiB at " << offset;
  }
  close(fd);
  ASSERT_EQ(unlink(path.c_str()), 0);
}

TYPED_TEST(MountIoTest, ReadsStopAtEndOfFile) {
  const std::string path = this->cluster_->Path("eof");
  const int fd = open(path.c_str(), O_CREAT | O_RDWR | O_TRUNC, 0644);
  ASSERT_GE(fd, 0);
  std::string data(700 * 1024 + 5, '\0');
  PatternFill(3, 0, data.data(), data.size());
  ASSERT_EQ(write(fd, data.data(), data.size()),
            static_cast<ssize_t>(data.size()));
  std::string buffer(kMiB, '\0');
  ASSERT_EQ(pread(fd, buffer.data(), kMiB, 100),
            static_cast<ssize_t>(data.size() - 100));
  EXPECT_EQ(buffer.substr(0, data.size() - 100), data.substr(100));
  EXPECT_EQ(pread(fd, buffer.data(), kMiB, data.size()), 0);
  EXPECT_EQ(pread(fd, buffer.data(), kMiB, 10 * kMiB), 0);
  close(fd);
  ASSERT_EQ(unlink(path.c_str()), 0);
}

}  // namespace
}  // namespace rbfs
