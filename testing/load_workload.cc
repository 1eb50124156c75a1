#include "testing/load_workload.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <deque>
#include <memory>
#include <random>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "testing/test_data.h"

namespace rbfs {
namespace {

constexpr uint64_t kMaxOwnBytes = 2 << 20;
constexpr uint64_t kMaxIoBytes = 256 << 10;
constexpr uint64_t kMaxSlotBytes = 512 << 10;
constexpr uint64_t kMaxHandoffBytes = 1 << 20;
constexpr size_t kMaxErrors = 20;

// A file whose content is PatternFill(seed) over `size` bytes.
struct Published {
  uint64_t seed = 0;
  uint64_t size = 0;
};

struct Slot {
  absl::Mutex mu;  // held by the writer for a rewrite, by readers to read
  std::string name ABSL_GUARDED_BY(mu);  // relative to a mount
  Published content ABSL_GUARDED_BY(mu);
  size_t mount = 0;  // the writer's mount
};

struct Handoff {
  std::string name;  // relative to a mount
  Published content;
  size_t mount = 0;  // written through this mount
};

class Load {
 public:
  explicit Load(const LoadOptions& options)
      : options_(options),
        slots_(options.mounts.size() * options.threads_per_mount) {}

  LoadResult Run() {
    for (size_t m = 0; m < options_.mounts.size(); ++m) {
      for (int t = 0; t < options_.threads_per_mount; ++t) {
        const size_t index = m * options_.threads_per_mount + t;
        slots_[index].mount = m;
        if (mkdir(Path(m, absl::StrCat("t", index)).c_str(), 0755) != 0 &&
            errno != EEXIST) {
          Fail(absl::StrCat("mkdir t", index, ": ", strerror(errno)));
        }
      }
    }
    const absl::Time end = absl::Now() + options_.duration;
    std::vector<std::thread> threads;
    for (size_t i = 0; i < slots_.size(); ++i) {
      threads.emplace_back([this, i, end] { Worker(i, end); });
    }
    for (std::thread& t : threads) t.join();
    LoadResult result;
    result.operations = operations_.load();
    result.bytes_written = bytes_written_.load();
    result.bytes_verified = bytes_verified_.load();
    result.slot_reads = slot_reads_.load();
    result.handoffs = handoffs_.load();
    absl::MutexLock lock(&mu_);
    result.errors = errors_;
    return result;
  }

 private:
  std::string Path(size_t mount, const std::string& name) const {
    return absl::StrCat(options_.mounts[mount], "/", name);
  }

  void Fail(const std::string& what) {
    absl::MutexLock lock(&mu_);
    if (errors_.size() < kMaxErrors) errors_.push_back(what);
  }

  bool Failed() {
    absl::MutexLock lock(&mu_);
    return !errors_.empty();
  }

  // Reads `size` bytes at `offset` and compares them with `expected`.
  bool Verify(int fd, uint64_t offset, const char* expected, uint64_t size,
              const std::string& what) {
    std::string back(size + 1, '\0');
    // One byte more, to see the end of file where it should be.
    const uint64_t ask = size + 1;
    uint64_t got = 0;
    while (got < ask) {
      const ssize_t n = pread(fd, back.data() + got, ask - got, offset + got);
      if (n < 0) {
        Fail(absl::StrCat(what, ": read: ", strerror(errno)));
        return false;
      }
      if (n == 0) break;
      got += n;
    }
    if (got < size || memcmp(back.data(), expected, size) != 0) {
      Fail(absl::StrCat(what, ": content differs (", got, " bytes for ", size,
                        ")"));
      return false;
    }
    bytes_verified_ += size;
    return true;
  }

  bool WriteAll(int fd, uint64_t offset, const std::string& data,
                const std::string& what) {
    if (pwrite(fd, data.data(), data.size(), offset) !=
        static_cast<ssize_t>(data.size())) {
      Fail(absl::StrCat(what, ": write: ", strerror(errno)));
      return false;
    }
    bytes_written_ += data.size();
    return true;
  }

  // Writes a whole new file with PatternFill(content.seed).
  bool WriteFile(const std::string& path, const Published& content) {
    const int fd =
        open(path.c_str(), O_CREAT | O_TRUNC | O_WRONLY | O_CLOEXEC, 0644);
    if (fd < 0) {
      Fail(absl::StrCat(path, ": create: ", strerror(errno)));
      return false;
    }
    std::string data(content.size, '\0');
    PatternFill(content.seed, 0, data.data(), data.size());
    const bool ok = WriteAll(fd, 0, data, path);
    if (close(fd) != 0) {
      Fail(absl::StrCat(path, ": close: ", strerror(errno)));
      return false;
    }
    return ok;
  }

  bool ReadFileWhole(const std::string& path, const Published& content) {
    const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      Fail(absl::StrCat(path, ": open: ", strerror(errno)));
      return false;
    }
    std::string expected(content.size, '\0');
    PatternFill(content.seed, 0, expected.data(), expected.size());
    const bool ok = Verify(fd, 0, expected.data(), expected.size(), path);
    close(fd);
    return ok;
  }

  void Worker(size_t index, absl::Time end) {
    const size_t mount = index / options_.threads_per_mount;
    const size_t mounts = options_.mounts.size();
    std::mt19937_64 random(options_.seed * 1000003 + index);
    auto uniform = [&random](uint64_t n) { return random() % n; };
    const std::string dir = absl::StrCat("t", index);
    const std::string own = Path(mount, dir + "/own");
    std::string shadow;  // what `own` holds
    int fd = open(own.c_str(), O_CREAT | O_TRUNC | O_RDWR | O_CLOEXEC, 0644);
    if (fd < 0) {
      Fail(absl::StrCat(own, ": create: ", strerror(errno)));
      return;
    }
    uint64_t versions = 0;
    while (absl::Now() < end && !Failed()) {
      ++operations_;
      const uint64_t op = uniform(100);
      const uint64_t seed = random();
      if (op < 20) {
        // Overwrite or extend a range of the own file.
        const uint64_t offset = uniform(kMaxOwnBytes);
        const uint64_t size =
            std::min(1 + uniform(kMaxIoBytes), kMaxOwnBytes - offset);
        std::string data(size, '\0');
        PatternFill(seed, 0, data.data(), size);
        if (!WriteAll(fd, offset, data, own)) break;
        if (shadow.size() < offset + size) shadow.resize(offset + size, '\0');
        shadow.replace(offset, size, data);
      } else if (op < 35) {
        // Read a range (possibly past the end) and compare.
        const uint64_t offset = uniform(shadow.size() + 1);
        const uint64_t size =
            std::min<uint64_t>(uniform(kMaxIoBytes), shadow.size() - offset);
        if (!Verify(fd, offset, shadow.data() + offset, size, own)) break;
      } else if (op < 38) {
        const uint64_t size = uniform(kMaxOwnBytes);
        if (ftruncate(fd, size) != 0) {
          Fail(absl::StrCat(own, ": truncate: ", strerror(errno)));
          break;
        }
        shadow.resize(size, '\0');
      } else if (op < 41) {
        if (fsync(fd) != 0) {
          Fail(absl::StrCat(own, ": fsync: ", strerror(errno)));
          break;
        }
      } else if (op < 44) {
        // Close and reopen: the next reads come from a new open.
        close(fd);
        fd = open(own.c_str(), O_RDWR | O_CLOEXEC);
        if (fd < 0) {
          Fail(absl::StrCat(own, ": reopen: ", strerror(errno)));
          return;
        }
      } else if (op < 60) {
        RewriteSlot(index, seed, uniform(kMaxSlotBytes), &versions);
      } else if (op < 80) {
        ReadSlot(mount, uniform(slots_.size()));
      } else if (op < 90) {
        Handoff h{absl::StrCat(dir, "/h", seed),
                  {seed, uniform(kMaxHandoffBytes)},
                  mount};
        if (!WriteFile(Path(mount, h.name), h.content)) break;
        absl::MutexLock lock(&mu_);
        handoff_queue_.push_back(std::move(h));
      } else {
        TakeHandoff(mount);
      }
    }
    close(fd);
    // The whole own file, read through another mount.
    const std::string elsewhere = Path((mount + 1) % mounts, dir + "/own");
    const int check = open(elsewhere.c_str(), O_RDONLY | O_CLOEXEC);
    if (check < 0) {
      Fail(absl::StrCat(elsewhere, ": open: ", strerror(errno)));
      return;
    }
    Verify(check, 0, shadow.data(), shadow.size(), elsewhere);
    close(check);
  }

  void RewriteSlot(size_t index, uint64_t seed, uint64_t size,
                   uint64_t* versions) {
    Slot& slot = slots_[index];
    absl::MutexLock lock(&slot.mu);
    const Published content{seed, size};
    // Alternate between rewriting in place and replacing by rename.
    const std::string name = absl::StrCat("t", index, "/slot");
    if ((*versions)++ % 2 == 0) {
      if (!WriteFile(Path(slot.mount, name), content)) return;
    } else {
      const std::string temp = absl::StrCat("t", index, "/slot.new");
      if (!WriteFile(Path(slot.mount, temp), content)) return;
      if (rename(Path(slot.mount, temp).c_str(),
                 Path(slot.mount, name).c_str()) != 0) {
        Fail(absl::StrCat(name, ": rename: ", strerror(errno)));
        return;
      }
    }
    slot.name = name;
    slot.content = content;
  }

  void ReadSlot(size_t mount, size_t index) {
    Slot& slot = slots_[index];
    if (slot.mount == mount) return;
    absl::ReaderMutexLock lock(&slot.mu);
    if (slot.name.empty()) return;
    if (ReadFileWhole(Path(mount, slot.name), slot.content)) ++slot_reads_;
  }

  void TakeHandoff(size_t mount) {
    Handoff h;
    {
      absl::MutexLock lock(&mu_);
      auto it =
          std::find_if(handoff_queue_.begin(), handoff_queue_.end(),
                       [mount](const Handoff& h) { return h.mount != mount; });
      if (it == handoff_queue_.end()) return;
      h = std::move(*it);
      handoff_queue_.erase(it);
    }
    const std::string path = Path(mount, h.name);
    if (!ReadFileWhole(path, h.content)) return;
    if (unlink(path.c_str()) != 0) {
      Fail(absl::StrCat(path, ": unlink: ", strerror(errno)));
      return;
    }
    ++handoffs_;
  }

  const LoadOptions options_;
  std::vector<Slot> slots_;
  std::atomic<uint64_t> operations_{0};
  std::atomic<uint64_t> bytes_written_{0};
  std::atomic<uint64_t> bytes_verified_{0};
  std::atomic<uint64_t> slot_reads_{0};
  std::atomic<uint64_t> handoffs_{0};

  absl::Mutex mu_;
  // Guard the hand-off queue and the error list.
  std::deque<Handoff> handoff_queue_ ABSL_GUARDED_BY(mu_);
  std::vector<std::string> errors_ ABSL_GUARDED_BY(mu_);
};

}  // namespace

LoadResult RunLoad(const LoadOptions& options) { return Load(options).Run(); }

}  // namespace rbfs
