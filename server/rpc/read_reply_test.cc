#include "server/rpc/read_reply.h"

#include <cerrno>
#include <memory>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "protos/rbfs.grpc.pb.h"

namespace rbfs {
namespace {

// SerializeWithoutCopy writes ReadReply's wire format by hand (err, then data
// as a slice of its own); a new field would be silently dropped from the wire.
TEST(ReadReplyTest, ReadReplyHasOnlyTheFieldsSerializeWithoutCopyEncodes) {
  const google::protobuf::Descriptor* reply = ReadReply::descriptor();
  ASSERT_EQ(reply->field_count(), 2) << "update SerializeWithoutCopy";
  EXPECT_EQ(reply->FindFieldByNumber(1)->name(), "err");
  EXPECT_EQ(reply->FindFieldByNumber(ReadReply::kDataFieldNumber)->name(),
            "data");
}

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
