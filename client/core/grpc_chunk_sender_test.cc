#include "client/core/grpc_chunk_sender.h"

#include <grpcpp/grpcpp.h>

#include <cerrno>
#include <map>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "client/core/buffer_pool.h"
#include "client/core/inflight_limiter.h"
#include "client/core/io_context.h"
#include "client/rpc/rpc_client.h"
#include "common/errno_status.h"
#include "gtest/gtest.h"
#include "protos/rbfs.grpc.pb.h"

namespace rbfs {
namespace {

char ByteAt(uint64_t pos) { return static_cast<char>(pos * 7 + 1); }

// An in-process server that keeps file data in memory and can refuse the
// first calls or hold calls back in waves.
class FakeDataService final : public Rbfs::Service {
 public:
  // Every call first fails with UNAVAILABLE this many times in total.
  void FailFirst(int calls) {
    absl::MutexLock lock(&mu_);
    failures_left_ = calls;
  }
  void FailAlways() {
    absl::MutexLock lock(&mu_);
    failures_left_ = -1;
  }
  // Holds each call until `wave` calls have arrived together.
  void Reset() {
    absl::MutexLock lock(&mu_);
    failures_left_ = 0;
    wave_ = 0;
    arrived_ = 0;
    concurrent_ = 0;
    max_concurrent_ = 0;
  }
  void HoldInWavesOf(int wave) {
    absl::MutexLock lock(&mu_);
    wave_ = wave;
  }

  int max_concurrent() {
    absl::MutexLock lock(&mu_);
    return max_concurrent_;
  }
  int calls() {
    absl::MutexLock lock(&mu_);
    return arrived_;
  }

  grpc::Status Read(grpc::ServerContext*, const ReadRequest* request,
                    ReadReply* reply) override {
    grpc::Status status = Enter();
    if (status.ok()) {
      std::string* data = reply->mutable_data();
      for (uint32_t i = 0; i < request->length(); ++i) {
        if (request->offset() + i >= kFileSize) break;
        data->push_back(ByteAt(request->offset() + i));
      }
    }
    Leave();
    return status;
  }

  grpc::Status Write(grpc::ServerContext*, const WriteRequest* request,
                     WriteReply* reply) override {
    grpc::Status status = Enter();
    if (status.ok()) {
      bool intact = true;
      for (size_t i = 0; i < request->data().size(); ++i) {
        intact = intact && request->data()[i] == ByteAt(request->offset() + i);
      }
      if (intact) {
        reply->set_written(request->data().size());
      } else {
        reply->set_err(EBADMSG);
      }
    }
    Leave();
    return status;
  }

  static constexpr uint64_t kFileSize = 10 << 20;

 private:
  grpc::Status Enter() {
    absl::MutexLock lock(&mu_);
    const int index = arrived_++;
    ++concurrent_;
    max_concurrent_ = std::max(max_concurrent_, concurrent_);
    if (failures_left_ != 0) {
      if (failures_left_ > 0) --failures_left_;
      return grpc::Status(grpc::StatusCode::UNAVAILABLE, "injected");
    }
    if (wave_ > 0) {
      const int wave_end = (index / wave_ + 1) * wave_;
      auto full = [this, wave_end]() ABSL_SHARED_LOCKS_REQUIRED(mu_) {
        return arrived_ >= wave_end;
      };
      // Bounded so a broken client cannot hang the test.
      mu_.AwaitWithTimeout(absl::Condition(&full), absl::Seconds(10));
    }
    return grpc::Status::OK;
  }
  void Leave() {
    absl::MutexLock lock(&mu_);
    --concurrent_;
  }

  absl::Mutex mu_;
  // Guards all counters below.
  int failures_left_ ABSL_GUARDED_BY(mu_) = 0;
  int wave_ ABSL_GUARDED_BY(mu_) = 0;
  int arrived_ ABSL_GUARDED_BY(mu_) = 0;
  int concurrent_ ABSL_GUARDED_BY(mu_) = 0;
  int max_concurrent_ ABSL_GUARDED_BY(mu_) = 0;
};

// One server and one client for the whole suite: gRPC 1.51 can crash when
// every channel and server of a process is torn down and new ones are made
// while the callback API's threads of the old ones still run (the mount
// makes its channels once).
class GrpcChunkSenderTest : public testing::Test {
 protected:
  static void SetUpTestSuite() {
    service_ = new FakeDataService();
    grpc::ServerBuilder builder;
    int port = 0;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(),
                             &port);
    builder.SetMaxReceiveMessageSize(8 << 20);
    builder.RegisterService(service_);
    server_ = builder.BuildAndStart().release();
    ASSERT_NE(server_, nullptr);
    target_ = new std::string(absl::StrCat("127.0.0.1:", port));
  }
  void SetUp() override { service_->Reset(); }

  struct Outcome {
    absl::StatusOr<size_t> result;
    std::string data;
  };

  // Runs one request through the real gRPC sender and waits for its reply.
  Outcome Run(bool write, uint64_t offset, size_t size, uint32_t chunk_size,
              size_t max_inflight, absl::Duration deadline) {
    // A client per deadline, kept for the process (see the class comment).
    static auto* clients = new std::map<int64_t, std::unique_ptr<RpcClient>>;
    std::unique_ptr<RpcClient>& client =
        (*clients)[absl::ToInt64Milliseconds(deadline)];
    if (client == nullptr) {
      RpcOptions options;
      options.target = *target_;
      options.deadline = deadline;
      client = std::make_unique<RpcClient>(options);
    }
    RpcClient& rpc = *client;
    InflightLimiter limiter(max_inflight);
    BufferPool pool(64);
    Outcome outcome;
    absl::Notification done;
    auto finisher = [&](IoContext& context, absl::StatusOr<size_t> result) {
      if (result.ok() && !write) {
        for (const iovec& v : context.Gather(*result)) {
          outcome.data.append(static_cast<char*>(v.iov_base), v.iov_len);
        }
      }
      outcome.result = std::move(result);
    };
    std::string payload(size, '\0');
    for (size_t i = 0; i < size; ++i) payload[i] = ByteAt(offset + i);
    std::shared_ptr<IoContext> context =
        write
            ? IoContext::CreateWrite(offset, payload.data(), size, chunk_size,
                                     &pool, finisher, nullptr)
            : IoContext::CreateRead(offset, size, chunk_size, &pool, finisher);
    InodeId id;
    id.set_ino(2);
    id.set_generation(1);
    // The pool and limiter die with this frame: wait until the context has
    // given everything back, not merely replied.
    context->SetReleaseHook([&done] { done.Notify(); });
    GrpcChunkSender sender(&rpc, &limiter, id);
    context->Start(sender);
    context.reset();
    EXPECT_TRUE(
        done.WaitForNotificationWithTimeout(deadline + absl::Seconds(30)));
    EXPECT_TRUE(limiter.WaitIdle(absl::Seconds(10)));
    return outcome;
  }

  static inline FakeDataService* service_ = nullptr;
  static inline grpc::Server* server_ = nullptr;
  static inline std::string* target_ = nullptr;
};

TEST_F(GrpcChunkSenderTest, ReadGathersEveryChunk) {
  Outcome outcome = Run(false, 1000, 3 << 20, 65536, 8, absl::Seconds(10));
  ASSERT_TRUE(outcome.result.ok()) << outcome.result.status();
  ASSERT_EQ(*outcome.result, 3u << 20);
  for (size_t i = 0; i < outcome.data.size(); ++i) {
    ASSERT_EQ(outcome.data[i], ByteAt(1000 + i)) << "byte " << i;
  }
}

TEST_F(GrpcChunkSenderTest, ReadPastEndOfFileIsShort) {
  const uint64_t offset = FakeDataService::kFileSize - 100000;
  Outcome outcome = Run(false, offset, 1 << 20, 65536, 8, absl::Seconds(10));
  ASSERT_TRUE(outcome.result.ok());
  EXPECT_EQ(*outcome.result, 100000u);
}

TEST_F(GrpcChunkSenderTest, WritePayloadArrivesIntact) {
  Outcome outcome = Run(true, 12345, 2 << 20, 65536, 8, absl::Seconds(10));
  ASSERT_TRUE(outcome.result.ok()) << outcome.result.status();
  EXPECT_EQ(*outcome.result, 2u << 20);
}

TEST_F(GrpcChunkSenderTest, NeverMoreChunksInFlightThanTheLimit) {
  constexpr int kLimit = 4;
  service_->HoldInWavesOf(kLimit);
  // 64 chunks: the limiter must release them in waves of exactly kLimit.
  Outcome outcome = Run(false, 0, 64 * 65536, 65536, kLimit, absl::Seconds(30));
  ASSERT_TRUE(outcome.result.ok()) << outcome.result.status();
  EXPECT_EQ(service_->max_concurrent(), kLimit);
  EXPECT_EQ(service_->calls(), 64);
}

TEST_F(GrpcChunkSenderTest, UnavailableIsRetriedWithBackoff) {
  service_->FailFirst(6);
  Outcome outcome = Run(true, 0, 4 * 65536, 65536, 8, absl::Seconds(10));
  ASSERT_TRUE(outcome.result.ok()) << outcome.result.status();
  EXPECT_EQ(*outcome.result, 4u * 65536);
  EXPECT_EQ(service_->calls(), 4 + 6);
}

TEST_F(GrpcChunkSenderTest, PersistentFailureEndsAtTheDeadline) {
  service_->FailAlways();
  const absl::Time start = absl::Now();
  Outcome outcome = Run(false, 0, 65536, 65536, 8, absl::Milliseconds(500));
  const absl::Duration took = absl::Now() - start;
  ASSERT_FALSE(outcome.result.ok());
  EXPECT_EQ(StatusToErrno(outcome.result.status()), EIO);
  EXPECT_GT(service_->calls(), 2) << "should have retried";
  EXPECT_LT(took, absl::Seconds(5));
}

}  // namespace
}  // namespace rbfs
