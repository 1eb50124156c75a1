#include "server/store/etcd_serving_lock.h"

#include <algorithm>
#include <cerrno>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/errno_status.h"
#include "common/log.h"
#include "server/store/etcd_client.h"
#include "server/store/meta_keys.h"

namespace rbfs {

struct EtcdServingLock::Client {
  std::unique_ptr<etcdserverpb::KV::Stub> kv;
  std::unique_ptr<etcdserverpb::Lease::Stub> lease;
  absl::Duration op_timeout;
};

namespace {

// The shortest lease etcd keeps reliably (it counts whole seconds).
constexpr absl::Duration kMinTtl = absl::Seconds(2);

absl::Duration PollInterval(absl::Duration ttl) {
  return std::min(absl::Seconds(1), ttl / 4);
}

}  // namespace

absl::StatusOr<int64_t> EtcdServingLock::GrantLease(Client& client,
                                                    absl::Duration ttl) {
  etcdserverpb::LeaseGrantRequest grant;
  grant.set_ttl(absl::ToInt64Seconds(ttl));
  etcdserverpb::LeaseGrantResponse granted;
  std::unique_ptr<grpc::ClientContext> context =
      EtcdCallContext(client.op_timeout);
  if (absl::Status s =
          EtcdStatus(client.lease->LeaseGrant(context.get(), grant, &granted),
                     "lease grant");
      !s.ok()) {
    return s;
  }
  return granted.id();
}

absl::Status EtcdServingLock::RevokeLease(Client& client, int64_t lease) {
  etcdserverpb::LeaseRevokeRequest revoke;
  revoke.set_id(lease);
  etcdserverpb::LeaseRevokeResponse revoked;
  std::unique_ptr<grpc::ClientContext> context =
      EtcdCallContext(client.op_timeout);
  return EtcdStatus(client.lease->LeaseRevoke(context.get(), revoke, &revoked),
                    "lease revoke");
}

absl::StatusOr<std::unique_ptr<EtcdServingLock>> EtcdServingLock::Acquire(
    const Options& options, const std::function<bool(absl::Duration)>& wait,
    std::function<void()> on_lost) {
  if (options.ttl < kMinTtl) {
    return ErrnoError(
        EINVAL,
        absl::StrCat("serving lock lease ", absl::FormatDuration(options.ttl),
                     " is shorter than ", absl::FormatDuration(kMinTtl)));
  }
  absl::StatusOr<std::shared_ptr<grpc::Channel>> channel =
      EtcdChannel(options.etcd);
  if (!channel.ok()) return channel.status();
  auto client = std::make_unique<Client>();
  client->kv = etcdserverpb::KV::NewStub(*channel);
  client->lease = etcdserverpb::Lease::NewStub(*channel);
  client->op_timeout = options.etcd.op_timeout;
  const std::string prefix = EtcdKeyPrefix(options.etcd.prefix);
  const std::string key = prefix + std::string(meta_keys::kServingLock);
  if (options.shared)
    return Join(std::move(client), options, std::move(on_lost));
  std::string logged_holder;
  for (;;) {
    // Who holds it, if anybody: a standby polls with this read alone.
    etcdserverpb::RangeRequest read;
    read.set_key(key);
    etcdserverpb::RangeResponse held;
    if (absl::Status s =
            EtcdRange(*client->kv, client->op_timeout, read, &held);
        !s.ok()) {
      return s;
    }
    if (held.kvs_size() == 0) {
      // Servers serving it together never hold the lock; this one would
      // not stand by but serve beside them. (A member joining between
      // this read and the Txn below is not seen: start all of one volume's
      // servers in the same mode.)
      absl::StatusOr<int64_t> members = CountMembers(*client, prefix);
      if (!members.ok()) return members.status();
      if (*members > 0) {
        return absl::FailedPreconditionError(absl::StrCat(
            prefix, " is served by ", *members,
            " servers together (--etcd-shared); start this one with "
            "--etcd-shared too"));
      }
    }
    if (held.kvs_size() > 0) {
      if (held.kvs(0).value() != logged_holder) {
        logged_holder = held.kvs(0).value();
        LogInfo(
            "%s is served by %s; standing by to take over when it stops "
            "(within %s of its end)",
            EtcdKeyPrefix(options.etcd.prefix), logged_holder,
            absl::FormatDuration(options.ttl));
      }
      if (!wait(PollInterval(options.ttl))) {
        return absl::CancelledError("stopped while standing by");
      }
      continue;
    }
    absl::StatusOr<int64_t> granted = GrantLease(*client, options.ttl);
    if (!granted.ok()) return granted.status();
    // Create the record unless another standby did since the read.
    etcdserverpb::TxnRequest txn;
    RequireCreateRevision(key, 0, &txn);
    etcdserverpb::PutRequest* put = txn.add_success()->mutable_request_put();
    put->set_key(key);
    put->set_value(options.holder);
    put->set_lease(*granted);
    etcdserverpb::TxnResponse response;
    if (absl::Status s = EtcdTxn(*client->kv, client->op_timeout, txn,
                                 &response, "serving lock");
        !s.ok()) {
      return s;
    }
    if (response.succeeded()) {
      const int64_t revision = response.header().revision();
      LogInfo("serving %s (lock revision %d, lease %s)",
              EtcdKeyPrefix(options.etcd.prefix), revision,
              absl::FormatDuration(options.ttl));
      return std::unique_ptr<EtcdServingLock>(new EtcdServingLock(
          std::move(client), options.ttl, *granted,
          std::string(meta_keys::kServingLock), revision, std::move(on_lost)));
    }
    // The unused lease would expire by itself; revoking it is only tidier.
    RevokeLease(*client, *granted).IgnoreError();
  }
}

absl::StatusOr<int64_t> EtcdServingLock::CountMembers(
    Client& client, const std::string& prefix) {
  etcdserverpb::RangeRequest read;
  const std::string members = prefix + std::string(meta_keys::kMembers);
  read.set_key(members);
  read.set_range_end(meta_keys::PrefixEnd(members));
  read.set_count_only(true);
  etcdserverpb::RangeResponse listed;
  if (absl::Status s = EtcdRange(*client.kv, client.op_timeout, read, &listed);
      !s.ok()) {
    return s;
  }
  return listed.count();
}

absl::StatusOr<std::unique_ptr<EtcdServingLock>> EtcdServingLock::Join(
    std::unique_ptr<Client> client, const Options& options,
    std::function<void()> on_lost) {
  const std::string prefix = EtcdKeyPrefix(options.etcd.prefix);
  const std::string lock_key = prefix + std::string(meta_keys::kServingLock);
  absl::StatusOr<int64_t> granted = GrantLease(*client, options.ttl);
  if (!granted.ok()) return granted.status();
  // The lease's id names the member: etcd never grants one twice.
  const std::string member = meta_keys::MemberKey(*granted);
  etcdserverpb::TxnRequest txn;
  RequireCreateRevision(lock_key, 0, &txn);
  etcdserverpb::PutRequest* put = txn.add_success()->mutable_request_put();
  put->set_key(prefix + member);
  put->set_value(options.holder);
  put->set_lease(*granted);
  txn.add_failure()->mutable_request_range()->set_key(lock_key);
  etcdserverpb::TxnResponse response;
  if (absl::Status s = EtcdTxn(*client->kv, client->op_timeout, txn, &response,
                               "serving membership");
      !s.ok()) {
    return s;
  }
  if (!response.succeeded()) {
    RevokeLease(*client, *granted).IgnoreError();
    const auto& lock = response.responses(0).response_range();
    return absl::FailedPreconditionError(absl::StrCat(
        prefix, " is served by ",
        lock.kvs_size() > 0 ? lock.kvs(0).value() : std::string("a server"),
        " alone (started without --etcd-shared); it cannot be shared while "
        "that one serves"));
  }
  const int64_t revision = response.header().revision();
  LogInfo("serving %s together with the servers on it (member %016x, lease %s)",
          prefix, *granted, absl::FormatDuration(options.ttl));
  return std::unique_ptr<EtcdServingLock>(
      new EtcdServingLock(std::move(client), options.ttl, *granted, member,
                          revision, std::move(on_lost)));
}

EtcdServingLock::EtcdServingLock(std::unique_ptr<Client> client,
                                 absl::Duration ttl, int64_t lease,
                                 std::string key, int64_t revision,
                                 std::function<void()> on_lost)
    : client_(std::move(client)),
      ttl_(ttl),
      lease_(lease),
      key_(std::move(key)),
      revision_(revision),
      on_lost_(std::move(on_lost)),
      renewer_([this] { RenewLoop(); }) {}

EtcdServingLock::~EtcdServingLock() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  renewer_.join();
  if (absl::Status s = RevokeLease(*client_, lease_); !s.ok()) {
    LogWarning(
        "releasing the serving lock: %s; a standby takes over once "
        "its lease runs out",
        s.message());
  }
}

void EtcdServingLock::RenewLoop() {
  absl::Time renewed = absl::Now();
  for (;;) {
    {
      absl::MutexLock lock(&mu_);
      mu_.AwaitWithTimeout(absl::Condition(&stopping_), ttl_ / 3);
      if (stopping_) return;
    }
    // One renewal per stream, each bounded: a stuck etcd cannot hold this
    // thread past the lease.
    grpc::ClientContext context;
    context.set_deadline(absl::ToChronoTime(absl::Now() + ttl_ / 3));
    std::unique_ptr<
        grpc::ClientReaderWriter<etcdserverpb::LeaseKeepAliveRequest,
                                 etcdserverpb::LeaseKeepAliveResponse>>
        stream = client_->lease->LeaseKeepAlive(&context);
    etcdserverpb::LeaseKeepAliveRequest request;
    request.set_id(lease_);
    etcdserverpb::LeaseKeepAliveResponse response;
    const bool answered = stream->Write(request) && stream->Read(&response);
    stream->WritesDone();
    context.TryCancel();
    stream->Finish().ok();
    if (answered && response.ttl() > 0) {
      renewed = absl::Now();
      continue;
    }
    if ((answered && response.ttl() <= 0) || absl::Now() - renewed >= ttl_) {
      LogError("lost the right to serve: its lease %s",
               answered ? "is gone" : "could not be renewed in time");
      if (on_lost_) on_lost_();
      return;
    }
  }
}

}  // namespace rbfs
