#include "server/rpc/read_reply.h"

#include <cstdint>
#include <string>
#include <utility>

#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/wire_format_lite.h"
#include "protos/rbfs.grpc.pb.h"

namespace rbfs {

int ReadMethodIndex() {
  return ReadRequest::descriptor()
      ->file()
      ->FindServiceByName("Rbfs")
      ->FindMethodByName("Read")
      ->index();
}

grpc::ByteBuffer SerializeWithoutCopy(ReadReply reply) {
  using google::protobuf::internal::WireFormatLite;
  using google::protobuf::io::CodedOutputStream;
  if (reply.err() != 0 || reply.data().empty()) {
    grpc::Slice whole(reply.SerializeAsString());
    return grpc::ByteBuffer(&whole, 1);
  }
  auto* data = new std::string(std::move(*reply.mutable_data()));
  // The other fields, serialised as usual: protobuf merges concatenated
  // messages, so they and the data field may go as separate slices.
  reply.clear_data();
  grpc::Slice rest(reply.SerializeAsString());
  const size_t count = rest.size() == 0 ? 2 : 3;
  uint8_t header[16];
  uint8_t* end = CodedOutputStream::WriteTagToArray(
      WireFormatLite::MakeTag(ReadReply::kDataFieldNumber,
                              WireFormatLite::WIRETYPE_LENGTH_DELIMITED),
      header);
  end = CodedOutputStream::WriteVarint32ToArray(
      static_cast<uint32_t>(data->size()), end);
  grpc::Slice slices[3] = {
      grpc::Slice(header, end - header),
      grpc::Slice(
          data->data(), data->size(),
          [](void* owned) { delete static_cast<std::string*>(owned); }, data),
      std::move(rest),
  };
  return grpc::ByteBuffer(slices, count);
}

grpc::Status ReadForWire(
    grpc::ServerContext* ctx,
    grpc::ServerUnaryStreamer<ReadRequest, grpc::ByteBuffer>* stream,
    absl::FunctionRef<grpc::Status(grpc::ServerContext*, const ReadRequest*,
                                   ReadReply*)>
        read) {
  ReadRequest request;
  if (!stream->Read(&request)) {
    return grpc::Status(grpc::StatusCode::INTERNAL, "no Read request");
  }
  ReadReply reply;
  grpc::Status status = read(ctx, &request, &reply);
  if (!status.ok()) return status;
  // As the last message, it goes out in one batch with the status.
  stream->Write(SerializeWithoutCopy(std::move(reply)),
                grpc::WriteOptions().set_last_message());
  return grpc::Status::OK;
}

grpc::internal::MethodHandler* NewReadForWireHandler(ReadFunction read) {
  return new grpc::internal::StreamedUnaryHandler<ReadRequest,
                                                  grpc::ByteBuffer>(
      [read = std::move(read)](
          grpc::ServerContext* ctx,
          grpc::ServerUnaryStreamer<ReadRequest, grpc::ByteBuffer>* stream) {
        return ReadForWire(ctx, stream, read);
      });
}

}  // namespace rbfs
