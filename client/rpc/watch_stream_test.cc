#include "client/rpc/watch_stream.h"

#include <grpcpp/grpcpp.h>

#include <deque>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "common/coherence.h"
#include "gtest/gtest.h"

namespace rbfs {
namespace {

constexpr absl::Duration kWait = absl::Seconds(10);

// A Watch service the test scripts: it records every opening and request,
// and sends what the test queues; End() ends the open call.
class ScriptedWatch final : public Rbfs::Service {
 public:
  grpc::Status Watch(
      grpc::ServerContext* context,
      grpc::ServerReaderWriter<WatchReply, WatchRequest>* stream) override {
    WatchRequest hello;
    if (!stream->Read(&hello)) return grpc::Status::OK;
    {
      absl::MutexLock lock(&mu_);
      hellos_.push_back(hello);
      reader_done_ = false;
      end_ = false;
    }
    std::thread reader([this, stream] {
      WatchRequest request;
      while (stream->Read(&request)) {
        absl::MutexLock lock(&mu_);
        requests_.push_back(request);
      }
      absl::MutexLock lock(&mu_);
      reader_done_ = true;
    });
    for (;;) {
      WatchReply reply;
      {
        absl::MutexLock lock(&mu_);
        auto ready = [this]() ABSL_SHARED_LOCKS_REQUIRED(mu_) {
          return !outbox_.empty() || end_ || reader_done_;
        };
        mu_.Await(absl::Condition(&ready));
        if (end_ || reader_done_) break;
        reply = outbox_.front();
        outbox_.pop_front();
      }
      if (!stream->Write(reply)) break;
    }
    // Ends the call under the reader, which then stops.
    context->TryCancel();
    reader.join();
    return grpc::Status(grpc::StatusCode::UNAVAILABLE, "ended by the test");
  }

  void Send(uint64_t seq, std::vector<Invalidation> changes = {},
            uint32_t heartbeat_ms = 0) {
    WatchReply reply;
    reply.set_seq(seq);
    reply.set_heartbeat_ms(heartbeat_ms);
    for (Invalidation& change : changes) *reply.add_invalidations() = change;
    absl::MutexLock lock(&mu_);
    outbox_.push_back(reply);
  }

  void End() {
    absl::MutexLock lock(&mu_);
    end_ = true;
  }

  // Waits until `n` openings arrived; returns the nth.
  WatchRequest Hello(size_t n) {
    absl::MutexLock lock(&mu_);
    auto arrived = [this, n]() ABSL_SHARED_LOCKS_REQUIRED(mu_) {
      return hellos_.size() >= n;
    };
    EXPECT_TRUE(mu_.AwaitWithTimeout(absl::Condition(&arrived), kWait));
    return hellos_.size() >= n ? hellos_[n - 1] : WatchRequest();
  }

  // Waits until `n` requests after the openings arrived; returns them.
  std::vector<WatchRequest> Requests(size_t n) {
    absl::MutexLock lock(&mu_);
    auto arrived = [this, n]() ABSL_SHARED_LOCKS_REQUIRED(mu_) {
      return requests_.size() >= n;
    };
    EXPECT_TRUE(mu_.AwaitWithTimeout(absl::Condition(&arrived), kWait));
    return requests_;
  }

 private:
  absl::Mutex mu_;
  std::vector<WatchRequest> hellos_ ABSL_GUARDED_BY(mu_);
  std::vector<WatchRequest> requests_ ABSL_GUARDED_BY(mu_);
  std::deque<WatchReply> outbox_ ABSL_GUARDED_BY(mu_);
  bool end_ ABSL_GUARDED_BY(mu_) = false;
  bool reader_done_ ABSL_GUARDED_BY(mu_) = false;
};

// Records the callbacks as words: "synced", "lost", "inval <ino>".
class RecordingListener : public WatchStream::Listener {
 public:
  std::vector<uint64_t> HeldInodes() override { return {1, 42}; }
  void OnSynced() override { Record("synced"); }
  void OnInvalidations(const WatchReply& reply) override {
    for (const Invalidation& change : reply.invalidations()) {
      Record(absl::StrCat("inval ", change.ino()));
    }
  }
  void OnCommitError(int err) override { Record(absl::StrCat("commit ", err)); }
  void OnLost() override { Record("lost"); }

  // Waits until `n` callbacks were recorded; returns them all.
  std::vector<std::string> Wait(size_t n) {
    absl::MutexLock lock(&mu_);
    auto arrived = [this, n]() ABSL_SHARED_LOCKS_REQUIRED(mu_) {
      return events_.size() >= n;
    };
    EXPECT_TRUE(mu_.AwaitWithTimeout(absl::Condition(&arrived), kWait));
    return events_;
  }

 private:
  void Record(std::string event) {
    absl::MutexLock lock(&mu_);
    events_.push_back(std::move(event));
  }

  absl::Mutex mu_;
  std::vector<std::string> events_ ABSL_GUARDED_BY(mu_);
};

Invalidation AttrOf(uint64_t ino) {
  Invalidation change;
  change.set_kind(Invalidation::ATTR);
  change.set_ino(ino);
  return change;
}

class WatchStreamTest : public testing::Test {
 protected:
  WatchStreamTest() {
    grpc::ServerBuilder builder;
    int port = 0;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(),
                             &port);
    builder.RegisterService(&service_);
    server_ = builder.BuildAndStart();
    RpcOptions options;
    options.target = absl::StrCat("127.0.0.1:", port);
    options.channels = 1;
    rpc_ = std::make_unique<RpcClient>(options);
    WatchStream::Options stream_options;
    stream_options.min_backoff = absl::Milliseconds(10);
    stream_options.max_backoff = absl::Milliseconds(50);
    stream_ = std::make_unique<WatchStream>(rpc_.get(), 77, &listener_,
                                            stream_options);
    stream_->Start();
  }

  ~WatchStreamTest() override {
    stream_->Stop();
    service_.End();
    server_->Shutdown(std::chrono::system_clock::now() +
                      std::chrono::seconds(1));
  }

  ScriptedWatch service_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<RpcClient> rpc_;
  RecordingListener listener_;
  std::unique_ptr<WatchStream> stream_;
};

TEST_F(WatchStreamTest, OpensWithTheSessionAndEverythingHeld) {
  WatchRequest hello = service_.Hello(1);
  EXPECT_EQ(hello.session(), 77u);
  ASSERT_EQ(hello.holds_size(), 2);
  EXPECT_EQ(hello.holds(0).ino(), 1u);
  EXPECT_EQ(hello.holds(1).ino(), 42u);
  EXPECT_EQ(hello.holds(1).as_of(), 0u);
  service_.Send(1, {}, 1000);
  service_.Send(2, {AttrOf(42)});
  EXPECT_EQ(listener_.Wait(2),
            (std::vector<std::string>{"synced", "inval 42"}));
  EXPECT_TRUE(stream_->synced());
  EXPECT_EQ(stream_->resyncs(), 0u);
}

TEST_F(WatchStreamTest, HoldsAndDropsTravelInOrderWithoutMixingAnInode) {
  service_.Hello(1);
  service_.Send(1, {}, 1000);
  listener_.Wait(1);
  stream_->Hold(5, 11);
  stream_->Drop(5);
  stream_->Hold(5, 12);
  std::vector<WatchRequest> requests = service_.Requests(3);
  std::vector<std::string> seen;
  for (const WatchRequest& request : requests) {
    EXPECT_LE(request.holds_size() + request.drops_size(), 1)
        << "inode 5 named twice in one message";
    for (const Hold& hold : request.holds()) {
      seen.push_back(absl::StrCat("hold ", hold.ino(), "@", hold.as_of()));
    }
    for (uint64_t drop : request.drops()) {
      seen.push_back(absl::StrCat("drop ", drop));
    }
  }
  EXPECT_EQ(seen,
            (std::vector<std::string>{"hold 5@11", "drop 5", "hold 5@12"}));
}

TEST_F(WatchStreamTest, ASkippedNumberIsALossAndTheStreamReopens) {
  service_.Hello(1);
  service_.Send(1, {}, 1000);
  service_.Send(3);
  EXPECT_EQ(listener_.Wait(2), (std::vector<std::string>{"synced", "lost"}));
  WatchRequest again = service_.Hello(2);
  EXPECT_EQ(again.session(), 77u);
  service_.Send(1, {}, 1000);
  EXPECT_EQ(listener_.Wait(3),
            (std::vector<std::string>{"synced", "lost", "synced"}));
  // The second sync is the stream's reconnect.
  EXPECT_EQ(stream_->resyncs(), 1u);
}

TEST_F(WatchStreamTest, SilenceIsALoss) {
  service_.Hello(1);
  // Four missed heartbeats of 20 ms: lost within a fraction of kWait.
  service_.Send(1, {}, 20);
  EXPECT_EQ(listener_.Wait(2), (std::vector<std::string>{"synced", "lost"}));
  service_.Hello(2);
}

TEST_F(WatchStreamTest, AnEndedCallIsALossAndTheStreamReopens) {
  service_.Hello(1);
  service_.Send(1, {}, 1000);
  listener_.Wait(1);
  service_.End();
  EXPECT_EQ(listener_.Wait(2), (std::vector<std::string>{"synced", "lost"}));
  service_.Hello(2);
}

}  // namespace
}  // namespace rbfs
