#include "server/store/etcd_client.h"

#include <cerrno>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "common/address.h"
#include "common/errno_status.h"
#include "server/store/meta_keys.h"

namespace rbfs {
namespace {

// Range pages and values are far below this; gRPC's default of 4 MiB could
// cut a page of large extended attributes.
constexpr int kMaxReceiveBytes = 64 << 20;

}  // namespace

absl::StatusOr<std::shared_ptr<grpc::Channel>> EtcdChannel(
    const EtcdOptions& options) {
  std::vector<std::string> hosts;
  for (const std::string& e : options.endpoints) {
    absl::string_view view = absl::StripAsciiWhitespace(e);
    if (absl::StartsWith(view, "https://")) {
      return absl::InvalidArgumentError(absl::StrCat(
          "etcd endpoint ", view, ": TLS to etcd is not supported yet"));
    }
    absl::ConsumePrefix(&view, "http://");
    hosts.emplace_back(view);
  }
  absl::StatusOr<std::string> target = GrpcTargetOf(absl::StrJoin(hosts, ","));
  if (!target.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("etcd endpoints: ", target.status().message()));
  }
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(kMaxReceiveBytes);
  return grpc::CreateCustomChannel(*target, grpc::InsecureChannelCredentials(),
                                   args);
}

std::unique_ptr<grpc::ClientContext> EtcdCallContext(absl::Duration timeout) {
  auto context = std::make_unique<grpc::ClientContext>();
  context->set_deadline(absl::ToChronoTime(absl::Now() + timeout));
  context->set_wait_for_ready(true);
  return context;
}

absl::Status EtcdStatus(const grpc::Status& s, absl::string_view what) {
  if (s.ok()) return absl::OkStatus();
  const std::string text =
      absl::StrCat("etcd ", what, ": ", s.error_message(), " (",
                   static_cast<int>(s.error_code()), ")");
  // etcd's space quota ("mvcc: database space exceeded").
  if (s.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED) {
    return ErrnoError(ENOSPC, text);
  }
  return ErrnoError(EIO, text);
}

absl::Status EtcdRange(etcdserverpb::KV::StubInterface& kv,
                       absl::Duration timeout,
                       const etcdserverpb::RangeRequest& request,
                       etcdserverpb::RangeResponse* response) {
  std::unique_ptr<grpc::ClientContext> context = EtcdCallContext(timeout);
  return EtcdStatus(kv.Range(context.get(), request, response), "range");
}

absl::Status EtcdTxn(etcdserverpb::KV::StubInterface& kv,
                     absl::Duration timeout,
                     const etcdserverpb::TxnRequest& request,
                     etcdserverpb::TxnResponse* response,
                     absl::string_view what) {
  std::unique_ptr<grpc::ClientContext> context = EtcdCallContext(timeout);
  return EtcdStatus(kv.Txn(context.get(), request, response), what);
}

std::string EtcdKeyPrefix(std::string prefix) {
  if (prefix.empty() || prefix.back() != '/') prefix.push_back('/');
  return prefix;
}

void RequireCreateRevision(const std::string& key, int64_t revision,
                           etcdserverpb::TxnRequest* txn) {
  etcdserverpb::Compare* created = txn->add_compare();
  created->set_key(key);
  created->set_target(etcdserverpb::Compare::CREATE);
  created->set_result(etcdserverpb::Compare::EQUAL);
  created->set_create_revision(revision);
}

void AddServingFence(const std::string& key, int64_t revision,
                     etcdserverpb::TxnRequest* txn) {
  if (revision == 0) return;
  RequireCreateRevision(key, revision, txn);
  txn->add_failure()->mutable_request_range()->set_key(key);
}

bool FailedOnServingFence(int64_t revision,
                          const etcdserverpb::TxnResponse& response) {
  if (revision == 0 || response.succeeded()) return false;
  if (response.responses_size() == 0) return true;
  const etcdserverpb::RangeResponse& lock =
      response.responses(0).response_range();
  return lock.kvs_size() == 0 || lock.kvs(0).create_revision() != revision;
}

}  // namespace rbfs
