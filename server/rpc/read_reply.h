// Read's zero-copy reply: the Read handler gRPC runs, which hands the data
// read to gRPC as a slice owning its buffer instead of copying it into a
// serialized ReadReply (one copy of every byte read less, measured in
// docs/benchmarks.md). It is a streamed-unary handler, so the call stays on
// the synchronous server's threads.
//
// ReadReply's wire format is written by hand here (err, or data as a slice
// of its own); read_reply_test checks that ReadReply has no other field.
#ifndef RBFS_SERVER_RPC_READ_REPLY_H_
#define RBFS_SERVER_RPC_READ_REPLY_H_

#include <functional>

#include "absl/functional/function_ref.h"
#include "grpcpp/grpcpp.h"
#include "grpcpp/support/method_handler.h"
#include "protos/rbfs.pb.h"

namespace rbfs {

// Answers one Read as the in-process (copying) API does.
using ReadFunction = std::function<grpc::Status(
    grpc::ServerContext*, const ReadRequest*, ReadReply*)>;

// The position of Read among the Rbfs service's methods, as the generated
// code numbers them (declaration order), for MarkMethodStreamed.
int ReadMethodIndex();

// `reply` in wire format, its data not copied: a slice holding the field's
// tag and length, a slice that owns the data's buffer, and the other fields
// (the attributes) serialized as usual. A failed or empty reply is
// serialized whole.
grpc::ByteBuffer SerializeWithoutCopy(ReadReply reply);

// Read's wire path: the answer of `read`, sent by SerializeWithoutCopy as
// the last message, in one batch with the status. A non-OK status from
// `read` ends the call with that status and no reply.
grpc::Status ReadForWire(
    grpc::ServerContext* ctx,
    grpc::ServerUnaryStreamer<ReadRequest, grpc::ByteBuffer>* stream,
    absl::FunctionRef<grpc::Status(grpc::ServerContext*, const ReadRequest*,
                                   ReadReply*)>
        read);

// The handler to register for Read (MarkMethodStreamed(ReadMethodIndex(),
// ...), which takes ownership): ReadForWire around `read`.
grpc::internal::MethodHandler* NewReadForWireHandler(ReadFunction read);

}  // namespace rbfs

#endif  // RBFS_SERVER_RPC_READ_REPLY_H_
