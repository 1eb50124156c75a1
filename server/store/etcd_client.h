// How rbfs talks to etcd (v3 API over gRPC): the channel, the conventions
// of every call, and the serving-lock fence that every Txn of a fenced
// store carries. For the metadata store and the serving lock only: this
// header brings in etcd's generated code.
#ifndef RBFS_SERVER_STORE_ETCD_CLIENT_H_
#define RBFS_SERVER_STORE_ETCD_CLIENT_H_

#include <grpcpp/grpcpp.h>

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "etcd/etcdserver/etcdserverpb/rpc.grpc.pb.h"
#include "server/store/etcd_options.h"

namespace rbfs {

// A channel to the endpoints (plain "http://" dropped; "https://" refused:
// no TLS yet). InvalidArgument for endpoints it cannot use.
absl::StatusOr<std::shared_ptr<grpc::Channel>> EtcdChannel(
    const EtcdOptions& options);

// A call's context: its deadline, and waiting for a connection until then
// rather than failing at once while etcd restarts.
std::unique_ptr<grpc::ClientContext> EtcdCallContext(absl::Duration timeout);

// A failed call as an errno status: ENOSPC for etcd's space quota, EIO
// otherwise; `what` names the call.
absl::Status EtcdStatus(const grpc::Status& status, absl::string_view what);

// One Range / Txn call with the conventions above; `what` names it.
absl::Status EtcdRange(etcdserverpb::KV::StubInterface& kv,
                       absl::Duration timeout,
                       const etcdserverpb::RangeRequest& request,
                       etcdserverpb::RangeResponse* response);
absl::Status EtcdTxn(etcdserverpb::KV::StubInterface& kv,
                     absl::Duration timeout,
                     const etcdserverpb::TxnRequest& request,
                     etcdserverpb::TxnResponse* response,
                     absl::string_view what);

// The key prefix of options.prefix: with a "/" at the end.
std::string EtcdKeyPrefix(std::string prefix);

// Makes `txn` apply only while `key` (the whole key) has create revision
// `revision`; 0: while it is absent.
void RequireCreateRevision(const std::string& key, int64_t revision,
                           etcdserverpb::TxnRequest* txn);

// Makes `txn` apply only while the serving lock `key` (the whole key) has
// create revision `revision`, and fetch the lock record otherwise (its
// failure branch). No-op for revision 0.
void AddServingFence(const std::string& key, int64_t revision,
                     etcdserverpb::TxnRequest* txn);
// Whether a Txn that did not succeed failed on that fence (rather than on
// the caller's own compares).
bool FailedOnServingFence(int64_t revision,
                          const etcdserverpb::TxnResponse& response);

}  // namespace rbfs

#endif  // RBFS_SERVER_STORE_ETCD_CLIENT_H_
