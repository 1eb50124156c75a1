#include "tools/crashloop/crash_harness.h"

#include <fcntl.h>
#include <sys/stat.h>

#include <cerrno>
#include <map>
#include <memory>
#include <random>
#include <thread>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "grpcpp/grpcpp.h"
#include "protos/rbfs.grpc.pb.h"
#include "testing/process.h"
#include "testing/server_process.h"
#include "testing/test_data.h"

namespace rbfs {
namespace {

using ::rbfs::testing::RunfilePath;
using ::rbfs::testing::RunProgram;
using ::rbfs::testing::ServerProcess;

constexpr int kMaxFilesPerWorker = 8;
constexpr uint64_t kMaxOffset = 1 << 20;
constexpr uint64_t kMaxWrite = 256 << 10;
constexpr uint32_t kReadChunk = 1 << 20;

InodeId Root() {
  InodeId id;
  id.set_ino(1);
  id.set_generation(1);
  return id;
}

struct WriteRecord {
  uint64_t seed = 0;
  uint64_t offset = 0;
  uint64_t length = 0;
};

// What a worker knows of one of its files.
struct File {
  InodeId id;
  std::string name;
  std::string content;
  std::vector<WriteRecord> writes;  // every write ever made to it
  bool fsynced = false;             // last fsync returned, nothing since
};

// The call a worker had in flight when the server died: what it may or
// may not have done.
struct Pending {
  enum Kind { kNone, kCreate, kWrite, kTruncate, kRename, kUnlink };
  Kind kind = kNone;
  uint64_t ino = 0;       // the file concerned (not for kCreate)
  std::string name;       // kCreate: its name; kRename: the new name
  uint64_t replaced = 0;  // kRename: the file the new name named
  WriteRecord write;      // kWrite
};

// Counts completed calls of all workers; the killer waits on it.
class CallCounter {
 public:
  void Add() {
    absl::MutexLock lock(&mu_);
    ++calls_;
  }
  bool WaitFor(uint64_t calls, absl::Duration timeout) {
    absl::MutexLock lock(&mu_);
    auto reached = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return calls_ >= calls;
    };
    return mu_.AwaitWithTimeout(absl::Condition(&reached), timeout);
  }
  uint64_t calls() {
    absl::MutexLock lock(&mu_);
    return calls_;
  }

 private:
  absl::Mutex mu_;
  uint64_t calls_ ABSL_GUARDED_BY(mu_) = 0;
};

class Worker {
 public:
  explicit Worker(int index) : index_(index) {}

  // Creates the worker's directory (before the first iteration).
  absl::Status Setup(Rbfs::Stub* stub) {
    MkDirRequest req;
    *req.mutable_parent() = Root();
    req.set_name(absl::StrCat("t", index_));
    req.set_mode(0755);
    EntryReply reply;
    grpc::Status s = Call(stub, &Rbfs::Stub::MkDir, req, &reply);
    if (!s.ok() || reply.err() != 0) {
      return absl::InternalError(absl::StrCat("mkdir t", index_, ": ",
                                              s.error_message(), reply.err()));
    }
    dir_ = reply.attr().id();
    return absl::OkStatus();
  }

  // Runs calls until one fails at the transport (the server died).
  void Run(Rbfs::Stub* stub, uint64_t seed, CallCounter* counter);

  // After the restart: compares the directory with the model, then adopts
  // what survived. Problems go to `problems`.
  void Verify(Rbfs::Stub* stub, CrashLoopResult* result,
              std::vector<std::string>* problems);

  uint64_t orphans_held() const { return orphans_held_; }

 private:
  template <typename Req, typename Reply>
  static grpc::Status Call(Rbfs::Stub* stub,
                           grpc::Status (Rbfs::Stub::*method)(
                               grpc::ClientContext*, const Req&, Reply*),
                           const Req& req, Reply* reply) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() +
                     std::chrono::seconds(30));
    return (stub->*method)(&ctx, req, reply);
  }

  void Problem(std::string text) {
    absl::MutexLock lock(&mu_);
    run_problems_.push_back(absl::StrCat("t", index_, ": ", std::move(text)));
  }

  const int index_;
  InodeId dir_;
  std::map<uint64_t, File> files_;  // by inode number; linked files only
  uint64_t next_name_ = 0;
  Pending pending_;
  uint64_t orphans_held_ = 0;  // unlinked while held open, this iteration
  absl::Mutex mu_;
  std::vector<std::string> run_problems_ ABSL_GUARDED_BY(mu_);
};

void Worker::Run(Rbfs::Stub* stub, uint64_t seed, CallCounter* counter) {
  std::mt19937_64 rng(seed);
  auto pick = [&](uint64_t n) {
    return std::uniform_int_distribution<uint64_t>(0, n - 1)(rng);
  };
  auto any_file = [&]() -> File* {
    if (files_.empty()) return nullptr;
    auto it = files_.begin();
    std::advance(it, pick(files_.size()));
    return &it->second;
  };
  orphans_held_ = 0;
  for (;;) {
    const uint64_t kind = pick(100);
    File* f = any_file();
    pending_ = Pending();
    if (f == nullptr ||
        (kind < 15 &&
         files_.size() < static_cast<size_t>(kMaxFilesPerWorker))) {
      MkNodRequest req;
      *req.mutable_parent() = dir_;
      req.set_name(absl::StrCat("n", next_name_++));
      req.set_mode(S_IFREG | 0644);
      req.set_exclusive(true);
      pending_.kind = Pending::kCreate;
      pending_.name = req.name();
      EntryReply reply;
      if (!Call(stub, &Rbfs::Stub::MkNod, req, &reply).ok()) return;
      if (reply.err() != 0) {
        Problem(absl::StrCat("create ", req.name(), ": errno ", reply.err()));
      } else {
        File created;
        created.id = reply.attr().id();
        created.name = req.name();
        files_[created.id.ino()] = std::move(created);
      }
    } else if (kind < 50) {
      WriteRequest req;
      *req.mutable_id() = f->id;
      WriteRecord w{rng(), pick(kMaxOffset), 1 + pick(kMaxWrite)};
      req.set_offset(w.offset);
      std::string* data = req.mutable_data();
      data->resize(w.length);
      PatternFill(w.seed, w.offset, data->data(), w.length);
      pending_.kind = Pending::kWrite;
      pending_.ino = f->id.ino();
      pending_.write = w;
      WriteReply reply;
      if (!Call(stub, &Rbfs::Stub::Write, req, &reply).ok()) return;
      if (reply.err() == ENOSPC) {
        // Nothing was written: allocation comes first, all or nothing.
      } else if (reply.err() != 0) {
        Problem(absl::StrCat("write ", f->name, ": errno ", reply.err()));
      } else {
        if (f->content.size() < w.offset + w.length) {
          f->content.resize(w.offset + w.length, '\0');
        }
        f->content.replace(w.offset, w.length, req.data());
        f->writes.push_back(w);
        f->fsynced = false;
      }
    } else if (kind < 65) {
      FsyncRequest req;
      *req.mutable_id() = f->id;
      ErrReply reply;
      if (!Call(stub, &Rbfs::Stub::Fsync, req, &reply).ok()) return;
      if (reply.err() != 0) {
        Problem(absl::StrCat("fsync ", f->name, ": errno ", reply.err()));
      } else {
        f->fsynced = true;
      }
    } else if (kind < 75) {
      SetAttrRequest req;
      *req.mutable_id() = f->id;
      req.set_valid(SETATTR_SIZE);
      req.set_size(pick(f->content.size() + kMaxWrite));
      pending_.kind = Pending::kTruncate;
      pending_.ino = f->id.ino();
      AttrReply reply;
      if (!Call(stub, &Rbfs::Stub::SetAttr, req, &reply).ok()) return;
      if (reply.err() != 0) {
        Problem(absl::StrCat("truncate ", f->name, ": errno ", reply.err()));
      } else {
        f->content.resize(req.size(), '\0');
        f->fsynced = false;
      }
    } else if (kind < 87) {
      File* over = any_file();
      RenameRequest req;
      *req.mutable_parent() = dir_;
      req.set_name(f->name);
      *req.mutable_new_parent() = dir_;
      if (over != f && pick(2) == 0) {
        req.set_new_name(over->name);
        pending_.replaced = over->id.ino();
      } else {
        req.set_new_name(absl::StrCat("n", next_name_++));
      }
      pending_.kind = Pending::kRename;
      pending_.ino = f->id.ino();
      pending_.name = req.new_name();
      ErrReply reply;
      if (!Call(stub, &Rbfs::Stub::Rename, req, &reply).ok()) return;
      if (reply.err() != 0) {
        Problem(absl::StrCat("rename ", f->name, ": errno ", reply.err()));
      } else {
        if (pending_.replaced != 0) files_.erase(pending_.replaced);
        f->name = req.new_name();
        f->fsynced = false;
      }
    } else {
      // Unlink; sometimes while holding the file open, which leaves an
      // orphan for the next start to reclaim.
      const bool hold = pick(3) == 0;
      if (hold) {
        OpenRequest req;
        *req.mutable_id() = f->id;
        req.set_flags(O_RDWR);
        AttrReply reply;
        if (!Call(stub, &Rbfs::Stub::Open, req, &reply).ok()) return;
        if (reply.err() != 0) {
          Problem(absl::StrCat("open ", f->name, ": errno ", reply.err()));
        }
        counter->Add();
      }
      UnlinkRequest req;
      *req.mutable_parent() = dir_;
      req.set_name(f->name);
      pending_.kind = Pending::kUnlink;
      pending_.ino = f->id.ino();
      ErrReply reply;
      if (!Call(stub, &Rbfs::Stub::Unlink, req, &reply).ok()) return;
      if (reply.err() != 0) {
        Problem(absl::StrCat("unlink ", f->name, ": errno ", reply.err()));
      } else {
        if (hold) ++orphans_held_;
        files_.erase(f->id.ino());
      }
    }
    pending_ = Pending();
    counter->Add();
  }
}

void Worker::Verify(Rbfs::Stub* stub, CrashLoopResult* result,
                    std::vector<std::string>* problems) {
  {
    absl::MutexLock lock(&mu_);
    for (std::string& p : run_problems_) problems->push_back(std::move(p));
    run_problems_.clear();
  }
  auto problem = [&](std::string text) {
    problems->push_back(absl::StrCat("t", index_, ": ", std::move(text)));
  };
  // The directory as the restarted server has it.
  std::map<std::string, Attr> found;
  for (uint64_t cookie = 0;;) {
    ReadDirRequest req;
    *req.mutable_id() = dir_;
    req.set_cookie(cookie);
    req.set_max_entries(4096);
    req.set_with_attrs(true);
    ReadDirReply reply;
    grpc::Status s = Call(stub, &Rbfs::Stub::ReadDir, req, &reply);
    if (!s.ok() || reply.err() != 0) {
      problem(absl::StrCat("readdir: ", s.error_message(), " ", reply.err()));
      return;
    }
    for (const DirEntry& e : reply.entries()) {
      found[e.name()] = e.attr();
      cookie = e.cookie();
    }
    if (reply.eof()) break;
  }

  const Pending p = pending_;
  std::map<uint64_t, File> survivors;
  std::map<uint64_t, bool> seen;
  for (const auto& [name, attr] : found) {
    const uint64_t ino = attr.id().ino();
    File file;
    auto it = files_.find(ino);
    const bool known = it != files_.end();
    if (known) {
      file = it->second;
    } else if (p.kind == Pending::kCreate && name == p.name) {
      file.id = attr.id();
      file.name = name;
    } else {
      problem(absl::StrCat(name, " (inode ", ino, ") was never created"));
      continue;
    }
    seen[ino] = true;
    const bool renamed = p.kind == Pending::kRename && p.ino == ino;
    if (known && name != file.name && !(renamed && name == p.name)) {
      problem(absl::StrCat(file.name, " turned up as ", name));
    }
    std::string got;
    for (uint64_t pos = 0; pos < attr.size(); pos += kReadChunk) {
      ReadRequest req;
      *req.mutable_id() = attr.id();
      req.set_offset(pos);
      req.set_length(kReadChunk);
      ReadReply reply;
      grpc::Status s = Call(stub, &Rbfs::Stub::Read, req, &reply);
      if (!s.ok() || reply.err() != 0) {
        problem(absl::StrCat("read ", name, ": ", s.error_message(), " ",
                             reply.err()));
        break;
      }
      got += reply.data();
    }
    if (got.size() != attr.size()) {
      problem(absl::StrCat(name, ": read ", got.size(), " of ", attr.size(),
                           " bytes"));
      continue;
    }
    const bool cut_off =
        (p.kind == Pending::kWrite || p.kind == Pending::kTruncate) &&
        p.ino == ino;
    if (cut_off) {
      // Old or new bytes, but only bytes written to this file.
      std::vector<WriteRecord> writes = file.writes;
      if (p.kind == Pending::kWrite) writes.push_back(p.write);
      std::vector<bool> explained(got.size(), false);
      std::string expect;
      for (const WriteRecord& w : writes) {
        if (w.offset >= got.size()) continue;
        const uint64_t n = std::min(w.length, got.size() - w.offset);
        expect.resize(n);
        PatternFill(w.seed, w.offset, expect.data(), n);
        for (uint64_t i = 0; i < n; ++i) {
          if (got[w.offset + i] == expect[i]) explained[w.offset + i] = true;
        }
      }
      for (uint64_t o = 0; o < got.size(); ++o) {
        if (got[o] != 0 && !explained[o]) {
          problem(absl::StrCat(name, ": byte at ", o,
                               " was never written to this file"));
          break;
        }
      }
      ++result->uncertain_files;
      if (p.kind == Pending::kWrite) file.writes.push_back(p.write);
    } else if (got != file.content) {
      problem(absl::StrCat(name, ": ", got.size(), " bytes differ from the ",
                           file.content.size(), " acknowledged",
                           file.fsynced ? " and fsync'd" : ""));
    } else {
      ++result->files_verified;
      if (file.fsynced) ++result->fsynced_files_verified;
    }
    result->bytes_verified += got.size();
    file.name = name;
    file.content = std::move(got);
    survivors[ino] = std::move(file);
  }
  for (const auto& [ino, file] : files_) {
    if (seen[ino]) continue;
    const bool may_vanish = (p.kind == Pending::kUnlink && p.ino == ino) ||
                            (p.kind == Pending::kRename && p.replaced == ino);
    if (!may_vanish) {
      problem(absl::StrCat(file.name, " (inode ", ino, ", ",
                           file.content.size(), " bytes",
                           file.fsynced ? ", fsync'd" : "", ") is gone"));
    }
  }
  files_ = std::move(survivors);
  pending_ = Pending();
}

uint64_t ReclaimedOrphans(const std::string& log) {
  const std::string word = "reclaimed ";
  const size_t at = log.find(word);
  if (at == std::string::npos) return 0;
  const size_t start = at + word.size();
  const size_t end = log.find(' ', start);
  uint64_t n = 0;
  if (!absl::SimpleAtoi(log.substr(start, end - start), &n)) return 0;
  return n;
}

}  // namespace

absl::StatusOr<CrashLoopResult> RunCrashLoop(const CrashLoopOptions& options) {
  const std::string data = options.work_dir + "/data";
  // A short lease: unlinked-open files are reclaimed one lease after a
  // start (mounts may re-open them first), and each iteration waits for it.
  ServerProcess server({data,
                        {"--volume-size=67108864", "--commit-interval=1s",
                         "--lease-timeout=200ms"}});
  if (absl::Status s = server.Start(); !s.ok()) return s;
  // gRPC 1.51 must keep one channel alive at all times (see helpers notes).
  std::vector<std::shared_ptr<grpc::Channel>> channels;
  channels.push_back(server.NewChannel());
  std::vector<std::unique_ptr<Worker>> workers;
  {
    auto stub = Rbfs::NewStub(channels.back());
    for (int k = 0; k < options.threads; ++k) {
      workers.push_back(std::make_unique<Worker>(k));
      if (absl::Status s = workers.back()->Setup(stub.get()); !s.ok()) {
        return s;
      }
    }
  }

  std::mt19937_64 rng(options.seed);
  CrashLoopResult result;
  for (int it = 0; it < options.iterations; ++it) {
    std::vector<std::string> problems;
    auto stub = Rbfs::NewStub(channels.back());
    CallCounter counter;
    const uint64_t kill_after =
        options.min_calls + std::uniform_int_distribution<uint64_t>(
                                0, options.max_calls - options.min_calls)(rng);
    std::vector<std::thread> threads;
    for (auto& w : workers) {
      threads.emplace_back([&, w = w.get(), seed = rng()] {
        w->Run(stub.get(), seed, &counter);
      });
    }
    if (!counter.WaitFor(kill_after, absl::Minutes(2))) {
      problems.push_back(absl::StrCat("only ", counter.calls(), " of ",
                                      kill_after, " calls in 2 minutes"));
    }
    server.Kill();
    for (std::thread& t : threads) t.join();
    result.calls += counter.calls();

    testing::ProgramResult check = RunProgram(
        {RunfilePath("server/rbfs-server"), "--check", "--data=" + data},
        absl::Minutes(2));
    if (check.exit_code != 0) {
      problems.push_back(
          absl::StrCat("--check exit ", check.exit_code, ": ", check.output));
    }
    if (absl::Status s = server.Start(); !s.ok()) return s;
    uint64_t held = 0;
    for (auto& w : workers) held += w->orphans_held();
    const absl::Time grace_over = absl::Now() + absl::Seconds(20);
    while (held > 0 && ReclaimedOrphans(server.Log()) < held &&
           absl::Now() < grace_over) {
      absl::SleepFor(absl::Milliseconds(20));
    }
    const uint64_t reclaimed = ReclaimedOrphans(server.Log());
    result.orphans_reclaimed += reclaimed;
    if (reclaimed < held) {
      problems.push_back(absl::StrCat(held,
                                      " files were unlinked while open "
                                      "but the restart reclaimed ",
                                      reclaimed));
    }
    channels.push_back(server.NewChannel());
    stub = Rbfs::NewStub(channels.back());
    for (auto& w : workers) w->Verify(stub.get(), &result, &problems);

    ++result.iterations;
    if (!problems.empty()) {
      ++result.failures;
      for (std::string& p : problems) {
        result.problems.push_back(
            absl::StrCat("iteration ", it, ": ", std::move(p)));
      }
    }
  }
  server.Kill();
  return result;
}

std::string Summarize(const CrashLoopResult& result) {
  return absl::StrCat(
      result.iterations, " iterations, ", result.failures, " failures, ",
      result.calls, " calls, ", result.files_verified, " files exact (",
      result.fsynced_files_verified, " fsync'd), ", result.uncertain_files,
      " cut off mid-call, ", result.bytes_verified, " bytes verified, ",
      result.orphans_reclaimed, " orphans reclaimed");
}

}  // namespace rbfs
