// The Exchange stream over a real gRPC server in this process: batches of
// reads and writes answered by id, errnos in the replies, refusals.
#include <sys/stat.h>

#include <cerrno>
#include <fstream>
#include <memory>
#include <string>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/coherence.h"
#include "common/token_file.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "server/auth/token_authenticator.h"
#include "server/rpc/rbfs_service.h"
#include "server/testing/served_filesystem.h"

namespace rbfs {
namespace {

constexpr char kToken[] = "0123456789abcdef-exchange";
// Bounds every stream of a test, so a missing reply fails, not hangs.
constexpr absl::Duration kStreamDeadline = absl::Seconds(30);

using ExchangeCall = grpc::ClientReaderWriter<RequestBatch, ReplyBatch>;

class ExchangeTest : public ::testing::Test {
 protected:
  void SetUp() override { Start(AccessOptions()); }

  void Start(AccessOptions access) {
    absl::StatusOr<std::unique_ptr<testing::ServedFilesystem>> served =
        testing::ServedFilesystem::Start(
            std::string("exchange_") +
                ::testing::UnitTest::GetInstance()->current_test_info()->name(),
            access);
    ASSERT_TRUE(served.ok()) << served.status();
    served_ = std::move(*served);
  }

  void TearDown() override { served_.reset(); }

  std::unique_ptr<grpc::ClientContext> Context(const std::string& token = "") {
    auto ctx = std::make_unique<grpc::ClientContext>();
    ctx->set_deadline(absl::ToChronoTime(absl::Now() + kStreamDeadline));
    if (!token.empty()) {
      ctx->AddMetadata(std::string(kAuthorizationKey),
                       std::string(kBearerPrefix) + token);
    }
    return ctx;
  }

  // A new regular file in the root, open for the whole test.
  InodeId NewFile(const std::string& name) {
    MkNodRequest req;
    req.mutable_parent()->set_ino(Filesystem::kRootIno);
    req.mutable_parent()->set_generation(Filesystem::kRootGeneration);
    req.set_name(name);
    req.set_mode(S_IFREG | 0644);
    EntryReply reply;
    EXPECT_TRUE(served_->service()->MkNod(nullptr, &req, &reply).ok());
    EXPECT_EQ(reply.err(), 0);
    return reply.attr().id();
  }

  static StreamRequest WriteOf(uint64_t id, const InodeId& file,
                               uint64_t offset, const std::string& data) {
    StreamRequest request;
    request.set_id(id);
    request.mutable_write()->mutable_id()->CopyFrom(file);
    request.mutable_write()->set_offset(offset);
    request.mutable_write()->set_data(data);
    return request;
  }

  static StreamRequest ReadOf(uint64_t id, const InodeId& file, uint64_t offset,
                              uint32_t length) {
    StreamRequest request;
    request.set_id(id);
    request.mutable_read()->mutable_id()->CopyFrom(file);
    request.mutable_read()->set_offset(offset);
    request.mutable_read()->set_length(length);
    return request;
  }

  // Sends `batch`, then reads replies until one per request arrived.
  static std::vector<StreamReply> Exchange(ExchangeCall& call,
                                           const RequestBatch& batch) {
    EXPECT_TRUE(call.Write(batch));
    std::vector<StreamReply> replies;
    ReplyBatch got;
    while (replies.size() < static_cast<size_t>(batch.requests_size()) &&
           call.Read(&got)) {
      for (const StreamReply& reply : got.replies()) replies.push_back(reply);
    }
    return replies;
  }

  std::unique_ptr<TokenAuthenticator> authenticator_;
  std::unique_ptr<testing::ServedFilesystem> served_;
};

TEST_F(ExchangeTest, ABatchIsAnsweredRequestByRequestWithTheirIds) {
  const InodeId file = NewFile("f");
  auto ctx = Context();
  std::unique_ptr<ExchangeCall> call = served_->stub()->Exchange(ctx.get());
  RequestBatch writes;
  *writes.add_requests() = WriteOf(7, file, 0, "abcd");
  *writes.add_requests() = WriteOf(9, file, 4, "efgh");
  std::vector<StreamReply> written = Exchange(*call, writes);
  ASSERT_EQ(written.size(), 2u);
  EXPECT_EQ(written[0].id(), 7u);
  EXPECT_EQ(written[1].id(), 9u);
  for (const StreamReply& reply : written) {
    ASSERT_TRUE(reply.has_write());
    EXPECT_EQ(reply.write().err(), 0);
    EXPECT_EQ(reply.write().written(), 4u);
  }
  EXPECT_EQ(written[1].write().size(), 8u);
  EXPECT_EQ(written[1].write().attr().size(), 8u);

  RequestBatch reads;
  *reads.add_requests() = ReadOf(1, file, 2, 4);
  *reads.add_requests() = ReadOf(2, file, 6, 100);
  std::vector<StreamReply> read = Exchange(*call, reads);
  ASSERT_EQ(read.size(), 2u);
  EXPECT_EQ(read[0].id(), 1u);
  EXPECT_EQ(read[0].read().data(), "cdef");
  EXPECT_EQ(read[1].id(), 2u);
  EXPECT_EQ(read[1].read().data(), "gh");

  call->WritesDone();
  EXPECT_TRUE(call->Finish().ok());
}

TEST_F(ExchangeTest, ARequestsErrnoIsInItsReplyAndTheStreamGoesOn) {
  const InodeId file = NewFile("f");
  InodeId stale = file;
  stale.set_generation(file.generation() + 1);
  auto ctx = Context();
  std::unique_ptr<ExchangeCall> call = served_->stub()->Exchange(ctx.get());
  RequestBatch batch;
  *batch.add_requests() = ReadOf(1, stale, 0, 10);
  *batch.add_requests() = WriteOf(2, file, 0, "x");
  std::vector<StreamReply> replies = Exchange(*call, batch);
  ASSERT_EQ(replies.size(), 2u);
  EXPECT_EQ(replies[0].read().err(), ESTALE);
  EXPECT_EQ(replies[1].write().err(), 0);
  call->WritesDone();
  EXPECT_TRUE(call->Finish().ok());
}

TEST_F(ExchangeTest, ARequestWithoutACallGetsAReplyWithoutAResult) {
  auto ctx = Context();
  std::unique_ptr<ExchangeCall> call = served_->stub()->Exchange(ctx.get());
  RequestBatch batch;
  batch.add_requests()->set_id(5);
  std::vector<StreamReply> replies = Exchange(*call, batch);
  ASSERT_EQ(replies.size(), 1u);
  EXPECT_EQ(replies[0].id(), 5u);
  EXPECT_EQ(replies[0].result_case(), StreamReply::RESULT_NOT_SET);
  call->WritesDone();
  EXPECT_TRUE(call->Finish().ok());
}

TEST_F(ExchangeTest, AReadOnlyExportRefusesWritesWithErofs) {
  TearDown();
  AccessOptions access;
  access.read_only = true;
  Start(access);
  // The file exists before the export turns read-only only in this fs, so
  // create it through the filesystem below the policy.
  absl::StatusOr<Entry> made = served_->fs()->MkNod(
      InodeRef{Filesystem::kRootIno, Filesystem::kRootGeneration}, "f",
      S_IFREG | 0644, 0, Creator{}, false, false, {}, {});
  ASSERT_TRUE(made.ok()) << made.status();
  InodeId file;
  file.set_ino(made->ino);
  file.set_generation(made->inode.generation());
  auto ctx = Context();
  std::unique_ptr<ExchangeCall> call = served_->stub()->Exchange(ctx.get());
  RequestBatch batch;
  *batch.add_requests() = WriteOf(1, file, 0, "x");
  *batch.add_requests() = ReadOf(2, file, 0, 1);
  std::vector<StreamReply> replies = Exchange(*call, batch);
  ASSERT_EQ(replies.size(), 2u);
  EXPECT_EQ(replies[0].write().err(), EROFS);
  EXPECT_EQ(replies[1].read().err(), 0);
  call->WritesDone();
  EXPECT_TRUE(call->Finish().ok());
}

TEST_F(ExchangeTest, AStreamWithoutTheTokenIsRefused) {
  TearDown();
  const std::string path = ::testing::TempDir() + "/exchange_token";
  {
    std::ofstream out(path);
    out << kToken << "\n";
  }
  absl::StatusOr<std::unique_ptr<TokenAuthenticator>> auth =
      TokenAuthenticator::FromFile(path);
  ASSERT_TRUE(auth.ok()) << auth.status();
  authenticator_ = std::move(*auth);
  AccessOptions access;
  access.authenticator = authenticator_.get();
  Start(access);

  auto refused_ctx = Context("wrong-token-wrong-token");
  std::unique_ptr<ExchangeCall> refused =
      served_->stub()->Exchange(refused_ctx.get());
  ReplyBatch ignored;
  EXPECT_FALSE(refused->Read(&ignored));
  EXPECT_EQ(refused->Finish().error_code(), grpc::StatusCode::UNAUTHENTICATED);

  auto ctx = Context(kToken);
  std::unique_ptr<ExchangeCall> call = served_->stub()->Exchange(ctx.get());
  RequestBatch batch;
  batch.add_requests()->set_id(1);
  EXPECT_EQ(Exchange(*call, batch).size(), 1u);
  call->WritesDone();
  EXPECT_TRUE(call->Finish().ok());
}

}  // namespace
}  // namespace rbfs
