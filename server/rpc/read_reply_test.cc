#include "server/rpc/read_reply.h"

#include <cerrno>
#include <memory>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "protos/rbfs.grpc.pb.h"

namespace rbfs {
namespace {

TEST(ReadReplyTest, ReadMethodIndexNamesRead) {
  const google::protobuf::MethodDescriptor* read =
      ReadRequest::descriptor()->file()->FindServiceByName("Rbfs")->method(
          ReadMethodIndex());
  EXPECT_EQ(read->name(), "Read");
}

ReadReply Parsed(const grpc::ByteBuffer& buffer) {
  std::vector<grpc::Slice> slices;
  EXPECT_TRUE(buffer.Dump(&slices).ok());
  std::string wire;
  for (const grpc::Slice& s : slices) {
    wire.append(reinterpret_cast<const char*>(s.begin()), s.size());
  }
  ReadReply reply;
  EXPECT_TRUE(reply.ParseFromString(wire));
  return reply;
}

TEST(ReadReplyTest, DataTravelsInItsOwnSliceAndParsesBack) {
  ReadReply reply;
  // Past one byte of length varint, and not a multiple of anything.
  const std::string data(70001, 'x');
  reply.set_data(data);
  grpc::ByteBuffer buffer = SerializeWithoutCopy(reply);
  std::vector<grpc::Slice> slices;
  ASSERT_TRUE(buffer.Dump(&slices).ok());
  ASSERT_EQ(slices.size(), 2u);
  EXPECT_EQ(slices[1].size(), data.size());
  const ReadReply parsed = Parsed(buffer);
  EXPECT_EQ(parsed.err(), 0);
  EXPECT_EQ(parsed.data(), data);
}

TEST(ReadReplyTest, TheOtherFieldsTravelBesideTheData) {
  ReadReply reply;
  const std::string data(4096, 'y');
  reply.set_data(data);
  reply.mutable_attr()->set_size(12345);
  reply.mutable_attr()->mutable_atime()->set_sec(77);
  grpc::ByteBuffer buffer = SerializeWithoutCopy(reply);
  std::vector<grpc::Slice> slices;
  ASSERT_TRUE(buffer.Dump(&slices).ok());
  ASSERT_EQ(slices.size(), 3u);
  EXPECT_EQ(slices[1].size(), data.size());
  const ReadReply parsed = Parsed(buffer);
  EXPECT_EQ(parsed.data(), data);
  EXPECT_EQ(parsed.attr().size(), 12345u);
  EXPECT_EQ(parsed.attr().atime().sec(), 77);
}

TEST(ReadReplyTest, FailedAndEmptyRepliesAreSerializedWhole) {
  ReadReply failed;
  failed.set_err(EIO);
  EXPECT_EQ(Parsed(SerializeWithoutCopy(failed)).err(), EIO);

  const ReadReply empty;
  const ReadReply parsed = Parsed(SerializeWithoutCopy(empty));
  EXPECT_EQ(parsed.err(), 0);
  EXPECT_TRUE(parsed.data().empty());
}

// A service whose Read is answered only through NewReadForWireHandler.
class ReadOnlyService final : public Rbfs::Service {
 public:
  explicit ReadOnlyService(ReadFunction read) {
    MarkMethodStreamed(ReadMethodIndex(), NewReadForWireHandler(read));
  }
};

class ReadForWireTest : public ::testing::Test {
 protected:
  void Start(ReadFunction read) {
    service_ = std::make_unique<ReadOnlyService>(std::move(read));
    grpc::ServerBuilder builder;
    builder.RegisterService(service_.get());
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
    stub_ = Rbfs::NewStub(server_->InProcessChannel(grpc::ChannelArguments()));
  }

  void TearDown() override {
    if (server_) server_->Shutdown();
  }

  std::unique_ptr<ReadOnlyService> service_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<Rbfs::Stub> stub_;
};

TEST_F(ReadForWireTest, ClientGetsWhatTheReadFunctionAnswered) {
  Start([](grpc::ServerContext*, const ReadRequest* req, ReadReply* reply) {
    reply->set_data(std::string(req->length(), 'a' + req->offset()));
    return grpc::Status::OK;
  });
  ReadRequest req;
  req.set_offset(2);
  req.set_length(5000);
  ReadReply reply;
  grpc::ClientContext ctx;
  ASSERT_TRUE(stub_->Read(&ctx, req, &reply).ok());
  EXPECT_EQ(reply.err(), 0);
  EXPECT_EQ(reply.data(), std::string(5000, 'c'));
}

TEST_F(ReadForWireTest, ErrnoRepliesAndRefusedCallsReachTheClient) {
  Start([](grpc::ServerContext*, const ReadRequest* req, ReadReply* reply) {
    if (req->offset() == 0) {
      return grpc::Status(grpc::StatusCode::UNAUTHENTICATED, "no token");
    }
    reply->set_err(ESTALE);
    return grpc::Status::OK;
  });
  ReadRequest req;
  ReadReply refused;
  grpc::ClientContext refused_ctx;
  const grpc::Status status = stub_->Read(&refused_ctx, req, &refused);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(status.error_message(), "no token");

  req.set_offset(1);
  ReadReply stale;
  grpc::ClientContext stale_ctx;
  ASSERT_TRUE(stub_->Read(&stale_ctx, req, &stale).ok());
  EXPECT_EQ(stale.err(), ESTALE);
}

}  // namespace
}  // namespace rbfs
