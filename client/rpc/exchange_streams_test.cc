// ExchangeStreams against a scripted Exchange service in this process:
// replies matched by id, broken and refused streams, deadlines, closing.
#include "client/rpc/exchange_streams.h"

#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"

namespace rbfs {
namespace {

// Bounds every wait of a test, so a missing completion fails, not hangs.
constexpr absl::Duration kWait = absl::Seconds(10);

// An Exchange service the test scripts.
class ScriptedExchange final : public Rbfs::Service {
 public:
  enum class Mode {
    kEcho,    // answers every read with "data@OFFSET", last request first
    kSilent,  // reads and never answers, until the call is cancelled
    kBreak,   // reads one batch, then ends the call with UNAVAILABLE
    kRefuse,  // ends the call at once with UNAUTHENTICATED
  };

  void set_mode(Mode mode) {
    absl::MutexLock lock(&mu_);
    mode_ = mode;
  }
  int calls() {
    absl::MutexLock lock(&mu_);
    return calls_;
  }

  grpc::Status Exchange(
      grpc::ServerContext*,
      grpc::ServerReaderWriter<ReplyBatch, RequestBatch>* stream) override {
    Mode mode;
    {
      absl::MutexLock lock(&mu_);
      ++calls_;
      mode = mode_;
    }
    if (mode == Mode::kRefuse) {
      return grpc::Status(grpc::StatusCode::UNAUTHENTICATED, "no token");
    }
    RequestBatch batch;
    while (stream->Read(&batch)) {
      if (mode == Mode::kBreak) {
        return grpc::Status(grpc::StatusCode::UNAVAILABLE, "going away");
      }
      if (mode == Mode::kSilent) continue;
      ReplyBatch replies;
      for (int i = batch.requests_size() - 1; i >= 0; --i) {
        const StreamRequest& request = batch.requests(i);
        StreamReply* reply = replies.add_replies();
        reply->set_id(request.id());
        reply->mutable_read()->set_data(
            absl::StrCat("data@", request.read().offset()));
      }
      if (!stream->Write(replies)) break;
    }
    return grpc::Status::OK;
  }

 private:
  absl::Mutex mu_;
  Mode mode_ ABSL_GUARDED_BY(mu_) = Mode::kEcho;
  int calls_ ABSL_GUARDED_BY(mu_) = 0;
};

// What one request's `done` reported.
struct Outcome {
  bool done = false;
  grpc::Status status;
  std::string data;
};

class ExchangeStreamsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    grpc::ServerBuilder builder;
    int port = 0;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(),
                             &port);
    builder.RegisterService(&service_);
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
    stub_ =
        Rbfs::NewStub(grpc::CreateChannel("127.0.0.1:" + std::to_string(port),
                                          grpc::InsecureChannelCredentials()));
    streams_ = std::make_unique<ExchangeStreams>(
        std::vector<Rbfs::StubInterface*>{stub_.get()},
        [this](grpc::ClientContext& context) {
          context.AddMetadata("x-test", "exchange");
          absl::MutexLock lock(&mu_);
          ++prepared_;
        });
  }

  void TearDown() override {
    streams_.reset();
    server_->Shutdown();
  }

  // Submits a read of `offset` whose outcome lands in outcomes_[index].
  void SubmitRead(size_t index, uint64_t offset, absl::Duration deadline) {
    auto request = std::make_unique<StreamRequest>();
    request->mutable_read()->set_offset(offset);
    StreamRequest* raw = request.get();
    {
      absl::MutexLock lock(&mu_);
      if (outcomes_.size() <= index) outcomes_.resize(index + 1);
      requests_.push_back(std::move(request));
    }
    streams_->Submit(
        raw, absl::Now() + deadline,
        [this, index](const grpc::Status& status, StreamReply* reply) {
          absl::MutexLock lock(&mu_);
          Outcome& outcome = outcomes_[index];
          EXPECT_FALSE(outcome.done) << "done twice";
          outcome.done = true;
          outcome.status = status;
          if (status.ok()) outcome.data = reply->read().data();
        });
  }

  // Waits until the first `n` requests are done; false on timeout.
  bool AwaitDone(size_t n) {
    absl::MutexLock lock(&mu_);
    auto all_done = [this, n]() ABSL_SHARED_LOCKS_REQUIRED(mu_) {
      if (outcomes_.size() < n) return false;
      for (size_t i = 0; i < n; ++i) {
        if (!outcomes_[i].done) return false;
      }
      return true;
    };
    return mu_.AwaitWithTimeout(absl::Condition(&all_done), kWait);
  }

  Outcome OutcomeOf(size_t index) {
    absl::MutexLock lock(&mu_);
    return outcomes_[index];
  }

  ScriptedExchange service_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<Rbfs::Stub> stub_;
  std::unique_ptr<ExchangeStreams> streams_;
  absl::Mutex mu_;
  std::vector<std::unique_ptr<StreamRequest>> requests_ ABSL_GUARDED_BY(mu_);
  std::vector<Outcome> outcomes_ ABSL_GUARDED_BY(mu_);
  int prepared_ ABSL_GUARDED_BY(mu_) = 0;
};

TEST_F(ExchangeStreamsTest, RepliesReachTheirRequestsInAnyOrder) {
  constexpr size_t kRequests = 32;
  for (size_t i = 0; i < kRequests; ++i) {
    SubmitRead(i, 4096 * i, absl::Seconds(30));
  }
  ASSERT_TRUE(AwaitDone(kRequests));
  for (size_t i = 0; i < kRequests; ++i) {
    Outcome outcome = OutcomeOf(i);
    EXPECT_TRUE(outcome.status.ok()) << outcome.status.error_message();
    EXPECT_EQ(outcome.data, absl::StrCat("data@", 4096 * i));
  }
  // All on one stream, prepared once.
  EXPECT_EQ(service_.calls(), 1);
  absl::MutexLock lock(&mu_);
  EXPECT_EQ(prepared_, 1);
}

TEST_F(ExchangeStreamsTest, ABrokenStreamFailsItsRequestsAndANewOneOpens) {
  service_.set_mode(ScriptedExchange::Mode::kBreak);
  SubmitRead(0, 0, absl::Seconds(30));
  ASSERT_TRUE(AwaitDone(1));
  EXPECT_EQ(OutcomeOf(0).status.error_code(), grpc::StatusCode::UNAVAILABLE);

  service_.set_mode(ScriptedExchange::Mode::kEcho);
  SubmitRead(1, 8192, absl::Seconds(30));
  ASSERT_TRUE(AwaitDone(2));
  EXPECT_TRUE(OutcomeOf(1).status.ok());
  EXPECT_EQ(OutcomeOf(1).data, "data@8192");
  EXPECT_EQ(service_.calls(), 2);
}

TEST_F(ExchangeStreamsTest, ARequestPastItsDeadlineCancelsItsStream) {
  service_.set_mode(ScriptedExchange::Mode::kSilent);
  SubmitRead(0, 0, absl::Seconds(60));
  SubmitRead(1, 4096, absl::Milliseconds(200));
  ASSERT_TRUE(AwaitDone(2));
  // The late one ran out of time; the other, on the same cancelled stream,
  // may be repeated.
  EXPECT_EQ(OutcomeOf(1).status.error_code(),
            grpc::StatusCode::DEADLINE_EXCEEDED);
  EXPECT_EQ(OutcomeOf(0).status.error_code(), grpc::StatusCode::UNAVAILABLE);
}

TEST_F(ExchangeStreamsTest, ARefusedStreamFailsItsRequestsWithTheRefusal) {
  service_.set_mode(ScriptedExchange::Mode::kRefuse);
  SubmitRead(0, 0, absl::Seconds(30));
  ASSERT_TRUE(AwaitDone(1));
  EXPECT_EQ(OutcomeOf(0).status.error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
}

TEST_F(ExchangeStreamsTest, ClosingFailsWhatIsOutstanding) {
  service_.set_mode(ScriptedExchange::Mode::kSilent);
  SubmitRead(0, 0, absl::Seconds(60));
  streams_.reset();
  ASSERT_TRUE(AwaitDone(1));
  EXPECT_FALSE(OutcomeOf(0).status.ok());
}

}  // namespace
}  // namespace rbfs
