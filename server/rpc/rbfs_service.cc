#include "server/rpc/rbfs_service.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/numbers.h"
#include "common/coherence.h"
#include "common/errno_status.h"
#include "common/token_file.h"
#include "common/wire_limits.h"
#include "server/rpc/exchange_reactor.h"
#include "server/rpc/read_reply.h"
#include "server/rpc/watch_reactor.h"
#include "server/rpc/wire_conversion.h"

namespace rbfs {
namespace {

// Adds the directories a successful call changed, as they are now, each
// once (a rename within one directory names it twice). A directory that
// cannot be read (removed meanwhile) is left out: the mount then asks for it
// as it would have anyway.
template <typename Reply>
grpc::Status WithDirs(Filesystem* fs, std::initializer_list<InodeRef> dirs,
                      grpc::Status answered, Reply* reply) {
  if (reply->err() != 0) return answered;
  for (auto dir = dirs.begin(); dir != dirs.end(); ++dir) {
    const bool named_before = std::any_of(
        dirs.begin(), dir,
        [&](const InodeRef& earlier) { return earlier.ino == dir->ino; });
    if (named_before) continue;
    absl::StatusOr<Entry> e = fs->GetAttr(*dir);
    if (e.ok()) FillAttr(*e, fs->block_size(), reply->add_dirs());
  }
  return answered;
}

// A call's credentials as gRPC carries them (a unary or a callback call's
// context). In-process callers (tests, the fuzz harness) pass no context:
// they present no token.
class GrpcCredentials final : public CallCredentials {
 public:
  explicit GrpcCredentials(const grpc::ServerContextBase* ctx) : ctx_(ctx) {}

  absl::string_view Authorization() const override {
    if (ctx_ == nullptr) return {};
    const auto& metadata = ctx_->client_metadata();
    auto it = metadata.find(std::string(kAuthorizationKey));
    if (it == metadata.end()) return {};
    return absl::string_view(it->second.data(), it->second.size());
  }
  std::string Peer() const override {
    return ctx_ == nullptr ? "in-process" : ctx_->peer();
  }

 private:
  const grpc::ServerContextBase* const ctx_;
};

// The session a call names in its "rbfs-session" metadata; 0 (no session,
// so every watcher hears of its changes) when it names none or is
// in-process.
uint64_t SessionOf(const grpc::ServerContextBase* ctx) {
  if (ctx == nullptr) return 0;
  const auto& metadata = ctx->client_metadata();
  auto it = metadata.find(std::string(kSessionMetadataKey));
  uint64_t session = 0;
  if (it == metadata.end() ||
      !absl::SimpleAtoi(absl::string_view(it->second.data(), it->second.size()),
                        &session)) {
    return 0;
  }
  return session;
}

AccessRequest Asks(Operation op) {
  AccessRequest request;
  request.op = op;
  return request;
}

AccessRequest AsksAs(Operation op, const Caller& caller) {
  AccessRequest request = Asks(op);
  request.caller = PosixIds{caller.uid(), caller.gid()};
  return request;
}

// The new inode's owner as the policy decided it (squashed or not), with
// the caller's umask.
Creator CreatorOf(const AccessDecision& access, const Caller& caller) {
  return Creator{access.owner().uid, access.owner().gid, caller.umask()};
}

// The answer to a call the policy does not let run.
template <typename Reply>
grpc::Status Refused(const AccessDecision& access, Reply* reply) {
  if (access.verdict() == AccessDecision::Verdict::kRefuseCaller) {
    return grpc::Status(grpc::StatusCode::UNAUTHENTICATED, access.reason());
  }
  reply->set_err(access.err());
  return grpc::Status::OK;
}

// A stream's request refused as a unary call would be (UNAUTHENTICATED:
// the token changed since the stream began) has no call status of its own:
// its reply says EACCES.
template <typename Reply>
void Settle(const grpc::Status& status, Reply* reply) {
  if (!status.ok()) reply->set_err(EACCES);
}

}  // namespace

void RbfsService::ExportMetrics(MetricsRegistry* registry) {
  metrics_ = std::make_unique<CallMetrics>(registry);
  registry->AddGauge(
      "rbfs_server_volume_blocks", "Data blocks of the volume, by state.",
      [this] {
        const FsStats s = fs_->StatFs();
        return static_cast<double>(s.total_blocks - s.free_blocks);
      },
      {{"state", "used"}});
  registry->AddGauge(
      "rbfs_server_volume_blocks", "Data blocks of the volume, by state.",
      [this] { return static_cast<double>(fs_->StatFs().free_blocks); },
      {{"state", "free"}});
  registry->AddGauge(
      "rbfs_server_sessions", "Mount sessions whose lease runs.",
      [this] { return static_cast<double>(fs_->SessionCounts().sessions); });
  registry->AddGauge(
      "rbfs_server_open_handles", "Open file handles of all sessions.",
      [this] { return static_cast<double>(fs_->SessionCounts().handles); });
  registry->AddHistogram("rbfs_server_commit_seconds",
                         "How long each commit (data sync, then metadata) "
                         "took; its count is the commits made.",
                         &fs_->commit_latency());
  registry->AddCounterFn(
      "rbfs_server_invalidations_queued_total",
      "Changes queued for other mounts' Watch streams (one per mount).",
      [this] { return static_cast<double>(hub_.queued()); });
}

RbfsService::~RbfsService() {
  if (hears_commits_) DetachFromCommits();
}

void RbfsService::DetachFromCommits() {
  fs_->SetCommitFailureListener(nullptr);
  hears_commits_ = false;
}

ChangeHub::Options RbfsService::DefaultHubOptions() {
  ChangeHub::Options options;
  options.heartbeat = kWatchHeartbeat;
  return options;
}

RbfsService::RbfsService(Filesystem* fs, AccessOptions access,
                         ChangeHub::Options hub)
    : fs_(fs), started_(fs->Now()), policy_(access), hub_(hub) {
  // A failed commit may lose writes already answered: the mounts hear of it
  // on their Watch streams at once, to report it at close.
  fs_->SetCommitFailureListener([this](const absl::Status& failure) {
    hub_.SetCommitError(StatusToErrno(failure));
  });
  MarkMethodStreamed(
      ReadMethodIndex(),
      NewReadForWireHandler([this](grpc::ServerContext* ctx,
                                   const ReadRequest* req, ReadReply* reply) {
        return Measured("Read", &RbfsService::ReadFor, ctx, req, reply);
      }));
}

grpc::Status RbfsService::LookupFor(const grpc::ServerContextBase* ctx,
                                    const LookupRequest* req,
                                    EntryReply* reply) {
  const AccessDecision access =
      policy_.Decide(GrpcCredentials(ctx), Asks(Operation::kLookup));
  if (!access.runs()) return Refused(access, reply);
  reply->set_as_of(hub_.Sequence());
  return Answer(fs_->Lookup(RefOf(req->parent()), req->name()),
                fs_->block_size(), reply);
}

grpc::Status RbfsService::GetAttrFor(const grpc::ServerContextBase* ctx,
                                     const GetAttrRequest* req,
                                     AttrReply* reply) {
  const AccessDecision access =
      policy_.Decide(GrpcCredentials(ctx), Asks(Operation::kGetAttr));
  if (!access.runs()) return Refused(access, reply);
  return Answer(fs_->GetAttr(RefOf(req->id())), fs_->block_size(), reply);
}

grpc::Status RbfsService::SetAttrFor(const grpc::ServerContextBase* ctx,
                                     const SetAttrRequest* req,
                                     AttrReply* reply) {
  AccessRequest request = Asks(Operation::kSetAttr);
  if ((req->valid() & SETATTR_UID) != 0) request.new_uid = req->uid();
  if ((req->valid() & SETATTR_GID) != 0) request.new_gid = req->gid();
  const AccessDecision access = policy_.Decide(GrpcCredentials(ctx), request);
  if (!access.runs()) return Refused(access, reply);
  const grpc::Status answered =
      Answer(fs_->SetAttr(RefOf(req->id()), SetAttrArgsOf(*req)),
             fs_->block_size(), reply);
  if (reply->err() == 0) {
    const uint64_t ino = req->id().ino();
    hub_.Publish(SessionOf(ctx), (req->valid() & SETATTR_SIZE) != 0
                                     ? Change::Data(ino)
                                     : Change::Attr(ino));
  }
  return answered;
}

grpc::Status RbfsService::MkNodFor(const grpc::ServerContextBase* ctx,
                                   const MkNodRequest* req, EntryReply* reply) {
  const AccessDecision access = policy_.Decide(
      GrpcCredentials(ctx), AsksAs(Operation::kMkNod, req->caller()));
  if (!access.runs()) return Refused(access, reply);
  const uint64_t as_of = hub_.Sequence();
  const grpc::Status answered = WithDirs(
      fs_, {RefOf(req->parent())},
      Answer(fs_->MkNod(RefOf(req->parent()), req->name(), req->mode(),
                        req->rdev(), CreatorOf(access, req->caller()),
                        req->exclusive(), req->open(), CallOf(req->call()),
                        OpenHandle{req->call().session(), req->handle()}),
             fs_->block_size(), reply),
      reply);
  PublishCreation(SessionOf(ctx), req->parent().ino(), req->name(), as_of,
                  reply);
  return answered;
}

grpc::Status RbfsService::MkDirFor(const grpc::ServerContextBase* ctx,
                                   const MkDirRequest* req, EntryReply* reply) {
  const AccessDecision access = policy_.Decide(
      GrpcCredentials(ctx), AsksAs(Operation::kMkDir, req->caller()));
  if (!access.runs()) return Refused(access, reply);
  const uint64_t as_of = hub_.Sequence();
  const grpc::Status answered = WithDirs(
      fs_, {RefOf(req->parent())},
      Answer(fs_->MkDir(RefOf(req->parent()), req->name(), req->mode(),
                        CreatorOf(access, req->caller()), CallOf(req->call())),
             fs_->block_size(), reply),
      reply);
  PublishCreation(SessionOf(ctx), req->parent().ino(), req->name(), as_of,
                  reply);
  return answered;
}

grpc::Status RbfsService::UnlinkFor(const grpc::ServerContextBase* ctx,
                                    const UnlinkRequest* req, ErrReply* reply) {
  const AccessDecision access =
      policy_.Decide(GrpcCredentials(ctx), Asks(Operation::kUnlink));
  if (!access.runs()) return Refused(access, reply);
  const uint64_t session = SessionOf(ctx);
  const uint64_t child = WatchedChild(session, req->parent(), req->name());
  const grpc::Status answered = WithDirs(
      fs_, {RefOf(req->parent())},
      Answer(
          fs_->Unlink(RefOf(req->parent()), req->name(), CallOf(req->call())),
          reply),
      reply);
  if (reply->err() == 0)
    PublishRemoval(session, req->parent().ino(), req->name(), child);
  return answered;
}

grpc::Status RbfsService::RmDirFor(const grpc::ServerContextBase* ctx,
                                   const RmDirRequest* req, ErrReply* reply) {
  const AccessDecision access =
      policy_.Decide(GrpcCredentials(ctx), Asks(Operation::kRmDir));
  if (!access.runs()) return Refused(access, reply);
  const uint64_t session = SessionOf(ctx);
  const uint64_t child = WatchedChild(session, req->parent(), req->name());
  const grpc::Status answered = WithDirs(
      fs_, {RefOf(req->parent())},
      Answer(fs_->RmDir(RefOf(req->parent()), req->name(), CallOf(req->call())),
             reply),
      reply);
  if (reply->err() == 0)
    PublishRemoval(session, req->parent().ino(), req->name(), child);
  return answered;
}

grpc::Status RbfsService::RenameFor(const grpc::ServerContextBase* ctx,
                                    const RenameRequest* req, ErrReply* reply) {
  const AccessDecision access =
      policy_.Decide(GrpcCredentials(ctx), Asks(Operation::kRename));
  if (!access.runs()) return Refused(access, reply);
  const uint64_t session = SessionOf(ctx);
  // The moved inode's and a replaced one's attributes change too (ctime,
  // nlink, a directory's parent); worth two lookups only when another
  // session holds either directory, as it must to cache either child.
  uint64_t moved = 0;
  uint64_t replaced = 0;
  if (hub_.HeldByOthers(session, req->parent().ino()) ||
      hub_.HeldByOthers(session, req->new_parent().ino())) {
    moved = ChildOf(RefOf(req->parent()), req->name());
    replaced = ChildOf(RefOf(req->new_parent()), req->new_name());
  }
  const grpc::Status answered =
      WithDirs(fs_, {RefOf(req->parent()), RefOf(req->new_parent())},
               Answer(fs_->Rename(RefOf(req->parent()), req->name(),
                                  RefOf(req->new_parent()), req->new_name(),
                                  req->flags(), CallOf(req->call())),
                      reply),
               reply);
  if (reply->err() == 0) {
    std::vector<Change> changes = {
        Change::Entry(req->parent().ino(), req->name()),
        Change::Entry(req->new_parent().ino(), req->new_name())};
    if (moved != 0) changes.push_back(Change::Attr(moved));
    if (replaced != 0 && replaced != moved) {
      changes.push_back(Change::Attr(replaced));
    }
    hub_.Publish(session, changes);
  }
  return answered;
}

grpc::Status RbfsService::LinkFor(const grpc::ServerContextBase* ctx,
                                  const LinkRequest* req, EntryReply* reply) {
  const AccessDecision access =
      policy_.Decide(GrpcCredentials(ctx), Asks(Operation::kLink));
  if (!access.runs()) return Refused(access, reply);
  const uint64_t as_of = hub_.Sequence();
  const grpc::Status answered =
      WithDirs(fs_, {RefOf(req->new_parent())},
               Answer(fs_->Link(RefOf(req->id()), RefOf(req->new_parent()),
                                req->new_name(), CallOf(req->call())),
                      fs_->block_size(), reply),
               reply);
  if (reply->err() == 0) {
    reply->set_as_of(as_of);
    const Change changes[] = {
        Change::Entry(req->new_parent().ino(), req->new_name()),
        Change::Attr(req->id().ino())};
    hub_.Publish(SessionOf(ctx), changes);
  }
  return answered;
}

grpc::Status RbfsService::SymlinkFor(const grpc::ServerContextBase* ctx,
                                     const SymlinkRequest* req,
                                     EntryReply* reply) {
  const AccessDecision access = policy_.Decide(
      GrpcCredentials(ctx), AsksAs(Operation::kSymlink, req->caller()));
  if (!access.runs()) return Refused(access, reply);
  const uint64_t as_of = hub_.Sequence();
  const grpc::Status answered = WithDirs(
      fs_, {RefOf(req->parent())},
      Answer(
          fs_->Symlink(RefOf(req->parent()), req->name(), req->target(),
                       CreatorOf(access, req->caller()), CallOf(req->call())),
          fs_->block_size(), reply),
      reply);
  PublishCreation(SessionOf(ctx), req->parent().ino(), req->name(), as_of,
                  reply);
  return answered;
}

grpc::Status RbfsService::ReadLinkFor(const grpc::ServerContextBase* ctx,
                                      const ReadLinkRequest* req,
                                      ReadLinkReply* reply) {
  const AccessDecision access =
      policy_.Decide(GrpcCredentials(ctx), Asks(Operation::kReadLink));
  if (!access.runs()) return Refused(access, reply);
  absl::StatusOr<std::string> target = fs_->ReadLink(RefOf(req->id()));
  if (!target.ok()) return Answer(target.status(), reply);
  reply->set_target(std::move(*target));
  return grpc::Status::OK;
}

grpc::Status RbfsService::ReadDirFor(const grpc::ServerContextBase* ctx,
                                     const ReadDirRequest* req,
                                     ReadDirReply* reply) {
  const AccessDecision access =
      policy_.Decide(GrpcCredentials(ctx), Asks(Operation::kReadDir));
  if (!access.runs()) return Refused(access, reply);
  const uint64_t as_of = hub_.Sequence();
  absl::StatusOr<DirListing> listing = fs_->ReadDir(
      RefOf(req->id()), req->cookie(), req->max_entries(), req->with_attrs());
  if (!listing.ok()) return Answer(listing.status(), reply);
  FillReadDir(std::move(*listing), req->with_attrs(), fs_->block_size(), reply);
  reply->set_as_of(as_of);
  return grpc::Status::OK;
}

grpc::Status RbfsService::StatFsFor(const grpc::ServerContextBase* ctx,
                                    const StatFsRequest*, StatFsReply* reply) {
  const AccessDecision access =
      policy_.Decide(GrpcCredentials(ctx), Asks(Operation::kStatFs));
  if (!access.runs()) return Refused(access, reply);
  FillStatFs(fs_->StatFs(), reply);
  return grpc::Status::OK;
}

grpc::Status RbfsService::FsyncFor(const grpc::ServerContextBase* ctx,
                                   const FsyncRequest* req, ErrReply* reply) {
  const AccessDecision access =
      policy_.Decide(GrpcCredentials(ctx), Asks(Operation::kFsync));
  if (!access.runs()) return Refused(access, reply);
  return Answer(fs_->Fsync(RefOf(req->id())), reply);
}

grpc::Status RbfsService::OpenFor(const grpc::ServerContextBase* ctx,
                                  const OpenRequest* req, AttrReply* reply) {
  AccessRequest request = Asks(Operation::kOpen);
  request.open_flags = req->flags();
  const AccessDecision access = policy_.Decide(GrpcCredentials(ctx), request);
  if (!access.runs()) return Refused(access, reply);
  const grpc::Status answered = Answer(
      fs_->Open(RefOf(req->id()), req->flags(),
                OpenHandle{req->session(), req->handle(), req->reclaim()}),
      fs_->block_size(), reply);
  if (reply->err() == 0 && (req->flags() & O_TRUNC) != 0 &&
      (req->flags() & O_ACCMODE) != O_RDONLY) {
    hub_.Publish(SessionOf(ctx), Change::Data(req->id().ino()));
  }
  if (reply->err() == 0) AddOpenData(*req, reply);
  return answered;
}

void RbfsService::AddOpenData(const OpenRequest& req, AttrReply* reply) {
  const Attr& attr = reply->attr();
  const uint64_t limit = std::min(req.data_up_to(), kMaxOpenDataBytes);
  if (limit == 0 || (req.flags() & O_ACCMODE) == O_WRONLY ||
      (req.flags() & O_TRUNC) != 0 || !S_ISREG(attr.mode()) ||
      attr.size() > limit) {
    return;
  }
  if (!ReadData(req.id(), 0, static_cast<uint32_t>(attr.size()),
                reply->mutable_data(), reply)
           .ok()) {
    // The open stands; the mount reads the file as usual.
    reply->clear_data();
    return;
  }
  reply->set_has_data(true);
}

template <typename Reply>
absl::Status RbfsService::ReadData(const InodeId& id, uint64_t offset,
                                   uint32_t length, std::string* data,
                                   Reply* reply) {
  std::optional<meta::InodeRecord> moved;
  absl::Status s = fs_->Read(RefOf(id), offset, length, data, &moved);
  if (s.ok() && moved.has_value()) {
    Entry after;
    after.ino = id.ino();
    after.inode = std::move(*moved);
    FillAttr(after, fs_->block_size(), reply->mutable_attr());
  }
  return s;
}

grpc::Status RbfsService::ReleaseFor(const grpc::ServerContextBase* ctx,
                                     const ReleaseRequest* req,
                                     ErrReply* reply) {
  const AccessDecision access =
      policy_.Decide(GrpcCredentials(ctx), Asks(Operation::kRelease));
  if (!access.runs()) return Refused(access, reply);
  return Answer(
      fs_->Release(RefOf(req->id()), OpenHandle{req->session(), req->handle()}),
      reply);
}

grpc::Status RbfsService::KeepAliveFor(const grpc::ServerContextBase* ctx,
                                       const KeepAliveRequest* req,
                                       KeepAliveReply* reply) {
  const AccessDecision access =
      policy_.Decide(GrpcCredentials(ctx), Asks(Operation::kKeepAlive));
  if (!access.runs()) return Refused(access, reply);
  absl::StatusOr<KeepAliveResult> result = fs_->KeepAlive(
      req->session(), req->answered_below(), ctx != nullptr ? ctx->peer() : "");
  if (!result.ok()) return Answer(result.status(), reply);
  FillKeepAlive(*result, reply);
  return grpc::Status::OK;
}

grpc::Status RbfsService::StatusFor(const grpc::ServerContextBase* ctx,
                                    const StatusRequest*, StatusReply* reply) {
  const AccessDecision access =
      policy_.Decide(GrpcCredentials(ctx), Asks(Operation::kStatus));
  if (!access.runs()) return Refused(access, reply);
  const absl::Time now = fs_->Now();
  FillStatFs(fs_->StatFs(), reply->mutable_usage());
  for (const SessionTable::Info& info : fs_->Sessions()) {
    SessionStatus* session = reply->add_sessions();
    session->set_session(info.session);
    session->set_peer(info.peer);
    session->set_open_handles(info.handles);
    session->set_renewed_ms_ago(absl::ToInt64Milliseconds(
        std::max(now - info.renewed, absl::ZeroDuration())));
    session->set_confirmed(info.confirmed);
  }
  reply->set_lease_ms(absl::ToInt64Milliseconds(fs_->lease()));
  const Histogram& commits = fs_->commit_latency();
  reply->set_commits(commits.count());
  reply->set_commit_seconds(commits.sum());
  if (absl::Status failure = fs_->CommitFailure(); !failure.ok()) {
    reply->set_commit_failure(failure.ToString());
  }
  reply->set_uptime_ms(absl::ToInt64Milliseconds(now - started_));
  return grpc::Status::OK;
}

grpc::Status RbfsService::ReadFor(const grpc::ServerContextBase* ctx,
                                  const ReadRequest* req, ReadReply* reply) {
  const AccessDecision access =
      policy_.Decide(GrpcCredentials(ctx), Asks(Operation::kRead));
  if (!access.runs()) return Refused(access, reply);
  std::string* data = reply->mutable_data();
  absl::Status s =
      ReadData(req->id(), req->offset(), req->length(), data, reply);
  if (!s.ok()) {
    data->clear();
    return Answer(s, reply);
  }
  return grpc::Status::OK;
}

grpc::Status RbfsService::WriteFor(const grpc::ServerContextBase* ctx,
                                   const WriteRequest* req, WriteReply* reply) {
  const AccessDecision access =
      policy_.Decide(GrpcCredentials(ctx), Asks(Operation::kWrite));
  if (!access.runs()) return Refused(access, reply);
  Entry after;
  absl::StatusOr<uint64_t> size =
      fs_->Write(RefOf(req->id()), req->offset(), req->data(), &after.inode,
                 req->kill_suidgid());
  if (!size.ok()) return Answer(size.status(), reply);
  reply->set_written(req->data().size());
  reply->set_size(*size);
  after.ino = req->id().ino();
  FillAttr(after, fs_->block_size(), reply->mutable_attr());
  hub_.Publish(SessionOf(ctx), Change::Data(req->id().ino()));
  return grpc::Status::OK;
}

grpc::Status RbfsService::GetXattrFor(const grpc::ServerContextBase* ctx,
                                      const GetXattrRequest* req,
                                      XattrReply* reply) {
  const AccessDecision access =
      policy_.Decide(GrpcCredentials(ctx), Asks(Operation::kGetXattr));
  if (!access.runs()) return Refused(access, reply);
  absl::StatusOr<std::string> value =
      fs_->GetXattr(RefOf(req->id()), req->name());
  if (!value.ok()) return Answer(value.status(), reply);
  *reply->mutable_value() = *std::move(value);
  return grpc::Status::OK;
}

grpc::Status RbfsService::ListXattrFor(const grpc::ServerContextBase* ctx,
                                       const ListXattrRequest* req,
                                       XattrReply* reply) {
  const AccessDecision access =
      policy_.Decide(GrpcCredentials(ctx), Asks(Operation::kListXattr));
  if (!access.runs()) return Refused(access, reply);
  absl::StatusOr<std::vector<std::string>> names =
      fs_->ListXattr(RefOf(req->id()));
  if (!names.ok()) return Answer(names.status(), reply);
  FillXattrNames(*names, reply);
  return grpc::Status::OK;
}

grpc::Status RbfsService::SetXattrFor(const grpc::ServerContextBase* ctx,
                                      const SetXattrRequest* req,
                                      AttrReply* reply) {
  const AccessDecision access =
      policy_.Decide(GrpcCredentials(ctx), Asks(Operation::kSetXattr));
  if (!access.runs()) return Refused(access, reply);
  const grpc::Status answered =
      Answer(fs_->SetXattr(RefOf(req->id()), req->name(), req->value(),
                           req->flags(), CallOf(req->call())),
             fs_->block_size(), reply);
  if (reply->err() == 0) {
    hub_.Publish(SessionOf(ctx), Change::Attr(req->id().ino()));
  }
  return answered;
}

grpc::Status RbfsService::RemoveXattrFor(const grpc::ServerContextBase* ctx,
                                         const RemoveXattrRequest* req,
                                         AttrReply* reply) {
  const AccessDecision access =
      policy_.Decide(GrpcCredentials(ctx), Asks(Operation::kRemoveXattr));
  if (!access.runs()) return Refused(access, reply);
  const grpc::Status answered = Answer(
      fs_->RemoveXattr(RefOf(req->id()), req->name(), CallOf(req->call())),
      fs_->block_size(), reply);
  if (reply->err() == 0) {
    hub_.Publish(SessionOf(ctx), Change::Attr(req->id().ino()));
  }
  return answered;
}

grpc::Status RbfsService::FallocateFor(const grpc::ServerContextBase* ctx,
                                       const FallocateRequest* req,
                                       AttrReply* reply) {
  const AccessDecision access =
      policy_.Decide(GrpcCredentials(ctx), Asks(Operation::kFallocate));
  if (!access.runs()) return Refused(access, reply);
  const grpc::Status answered =
      Answer(fs_->Fallocate(RefOf(req->id()), req->mode(), req->offset(),
                            req->length()),
             fs_->block_size(), reply);
  if (reply->err() == 0) {
    hub_.Publish(SessionOf(ctx), Change::Data(req->id().ino()));
  }
  return answered;
}

grpc::Status RbfsService::CopyRangeFor(const grpc::ServerContextBase* ctx,
                                       const CopyRangeRequest* req,
                                       WriteReply* reply) {
  const AccessDecision access =
      policy_.Decide(GrpcCredentials(ctx), Asks(Operation::kCopyRange));
  if (!access.runs()) return Refused(access, reply);
  Entry after;
  absl::StatusOr<uint64_t> copied =
      fs_->CopyRange(RefOf(req->in()), req->in_offset(), RefOf(req->out()),
                     req->out_offset(), req->length(), &after.inode);
  if (!copied.ok()) return Answer(copied.status(), reply);
  reply->set_written(static_cast<uint32_t>(*copied));
  reply->set_size(after.inode.size());
  after.ino = req->out().ino();
  FillAttr(after, fs_->block_size(), reply->mutable_attr());
  if (*copied > 0) hub_.Publish(SessionOf(ctx), Change::Data(after.ino));
  return grpc::Status::OK;
}

grpc::Status RbfsService::SeekFor(const grpc::ServerContextBase* ctx,
                                  const SeekRequest* req, SeekReply* reply) {
  const AccessDecision access =
      policy_.Decide(GrpcCredentials(ctx), Asks(Operation::kSeek));
  if (!access.runs()) return Refused(access, reply);
  if (req->whence() != SEEK_DATA && req->whence() != SEEK_HOLE) {
    return Answer(ErrnoError(EINVAL, "only SEEK_DATA and SEEK_HOLE"), reply);
  }
  absl::StatusOr<uint64_t> found = fs_->SeekData(
      RefOf(req->id()), req->offset(), req->whence() == SEEK_HOLE);
  if (!found.ok()) return Answer(found.status(), reply);
  reply->set_offset(*found);
  return grpc::Status::OK;
}

grpc::Status RbfsService::LockFor(const grpc::ServerContextBase* ctx,
                                  const LockRequest* req, LockReply* reply) {
  const AccessDecision access =
      policy_.Decide(GrpcCredentials(ctx), Asks(Operation::kLock));
  if (!access.runs()) return Refused(access, reply);
  absl::StatusOr<LockArgs> args = LockArgsOf(*req);
  if (!args.ok()) return Answer(args.status(), reply);
  absl::StatusOr<std::optional<HeldLock>> held =
      fs_->Lock(RefOf(req->id()), *args, req->test(), req->reclaim());
  if (!held.ok()) return Answer(held.status(), reply);
  if (req->test()) FillConflict(*held, reply);
  return grpc::Status::OK;
}

void RbfsService::Serve(const grpc::ServerContextBase* ctx,
                        const StreamRequest& request, StreamReply* reply) {
  switch (request.call_case()) {
    case StreamRequest::kRead:
      return Settle(Measured("Read", &RbfsService::ReadFor, ctx,
                             &request.read(), reply->mutable_read()),
                    reply->mutable_read());
    case StreamRequest::kWrite:
      return Settle(Measured("Write", &RbfsService::WriteFor, ctx,
                             &request.write(), reply->mutable_write()),
                    reply->mutable_write());
    case StreamRequest::kLookup:
      return Settle(Measured("Lookup", &RbfsService::LookupFor, ctx,
                             &request.lookup(), reply->mutable_entry()),
                    reply->mutable_entry());
    case StreamRequest::kGetattr:
      return Settle(Measured("GetAttr", &RbfsService::GetAttrFor, ctx,
                             &request.getattr(), reply->mutable_attr()),
                    reply->mutable_attr());
    case StreamRequest::kSetattr:
      return Settle(Measured("SetAttr", &RbfsService::SetAttrFor, ctx,
                             &request.setattr(), reply->mutable_attr()),
                    reply->mutable_attr());
    case StreamRequest::kMknod:
      return Settle(Measured("MkNod", &RbfsService::MkNodFor, ctx,
                             &request.mknod(), reply->mutable_entry()),
                    reply->mutable_entry());
    case StreamRequest::kMkdir:
      return Settle(Measured("MkDir", &RbfsService::MkDirFor, ctx,
                             &request.mkdir(), reply->mutable_entry()),
                    reply->mutable_entry());
    case StreamRequest::kUnlink:
      return Settle(Measured("Unlink", &RbfsService::UnlinkFor, ctx,
                             &request.unlink(), reply->mutable_err()),
                    reply->mutable_err());
    case StreamRequest::kRmdir:
      return Settle(Measured("RmDir", &RbfsService::RmDirFor, ctx,
                             &request.rmdir(), reply->mutable_err()),
                    reply->mutable_err());
    case StreamRequest::kRename:
      return Settle(Measured("Rename", &RbfsService::RenameFor, ctx,
                             &request.rename(), reply->mutable_err()),
                    reply->mutable_err());
    case StreamRequest::kLink:
      return Settle(Measured("Link", &RbfsService::LinkFor, ctx,
                             &request.link(), reply->mutable_entry()),
                    reply->mutable_entry());
    case StreamRequest::kSymlink:
      return Settle(Measured("Symlink", &RbfsService::SymlinkFor, ctx,
                             &request.symlink(), reply->mutable_entry()),
                    reply->mutable_entry());
    case StreamRequest::kReadlink:
      return Settle(Measured("ReadLink", &RbfsService::ReadLinkFor, ctx,
                             &request.readlink(), reply->mutable_readlink()),
                    reply->mutable_readlink());
    case StreamRequest::kReaddir:
      return Settle(Measured("ReadDir", &RbfsService::ReadDirFor, ctx,
                             &request.readdir(), reply->mutable_readdir()),
                    reply->mutable_readdir());
    case StreamRequest::kOpen:
      return Settle(Measured("Open", &RbfsService::OpenFor, ctx,
                             &request.open(), reply->mutable_attr()),
                    reply->mutable_attr());
    case StreamRequest::kRelease:
      return Settle(Measured("Release", &RbfsService::ReleaseFor, ctx,
                             &request.release(), reply->mutable_err()),
                    reply->mutable_err());
    case StreamRequest::kGetxattr:
      return Settle(Measured("GetXattr", &RbfsService::GetXattrFor, ctx,
                             &request.getxattr(), reply->mutable_xattr()),
                    reply->mutable_xattr());
    case StreamRequest::kListxattr:
      return Settle(Measured("ListXattr", &RbfsService::ListXattrFor, ctx,
                             &request.listxattr(), reply->mutable_xattr()),
                    reply->mutable_xattr());
    case StreamRequest::kSetxattr:
      return Settle(Measured("SetXattr", &RbfsService::SetXattrFor, ctx,
                             &request.setxattr(), reply->mutable_attr()),
                    reply->mutable_attr());
    case StreamRequest::kFallocate:
      return Settle(Measured("Fallocate", &RbfsService::FallocateFor, ctx,
                             &request.fallocate(), reply->mutable_attr()),
                    reply->mutable_attr());
    case StreamRequest::kCopyRange:
      return Settle(Measured("CopyRange", &RbfsService::CopyRangeFor, ctx,
                             &request.copy_range(), reply->mutable_write()),
                    reply->mutable_write());
    case StreamRequest::kSeek:
      return Settle(Measured("Seek", &RbfsService::SeekFor, ctx,
                             &request.seek(), reply->mutable_seek()),
                    reply->mutable_seek());
    case StreamRequest::kLock:
      return Settle(Measured("Lock", &RbfsService::LockFor, ctx,
                             &request.lock(), reply->mutable_lock()),
                    reply->mutable_lock());
    case StreamRequest::kRemovexattr:
      return Settle(Measured("RemoveXattr", &RbfsService::RemoveXattrFor, ctx,
                             &request.removexattr(), reply->mutable_attr()),
                    reply->mutable_attr());
    case StreamRequest::CALL_NOT_SET:
      // A request of a newer mount: the reply without a result tells it
      // this server does not know the call.
      return;
  }
}

grpc::ServerBidiReactor<RequestBatch, ReplyBatch>* RbfsService::Exchange(
    grpc::CallbackServerContext* ctx) {
  const AccessDecision access =
      policy_.Decide(GrpcCredentials(ctx), Asks(Operation::kExchange));
  if (access.verdict() == AccessDecision::Verdict::kRefuseCaller) {
    return new ExchangeReactor(
        grpc::Status(grpc::StatusCode::UNAUTHENTICATED, access.reason()));
  }
  // The stream changes nothing itself; its requests are decided one by one.
  return new ExchangeReactor(
      [this, ctx](const StreamRequest& request, StreamReply* reply) {
        Serve(ctx, request, reply);
      });
}

grpc::ServerBidiReactor<WatchRequest, WatchReply>* RbfsService::Watch(
    grpc::CallbackServerContext* ctx) {
  const AccessDecision access =
      policy_.Decide(GrpcCredentials(ctx), Asks(Operation::kWatch));
  switch (access.verdict()) {
    case AccessDecision::Verdict::kRun:
      return new WatchReactor(&hub_);
    case AccessDecision::Verdict::kRefuseCaller:
      return new WatchReactor(
          grpc::Status(grpc::StatusCode::UNAUTHENTICATED, access.reason()));
    case AccessDecision::Verdict::kAnswerErrno:
      break;
  }
  // A stream has no reply to carry an errno in.
  return new WatchReactor(grpc::Status(grpc::StatusCode::PERMISSION_DENIED,
                                       "Watch is not allowed"));
}

void RbfsService::PublishCreation(uint64_t session, uint64_t dir,
                                  absl::string_view name, uint64_t as_of,
                                  EntryReply* reply) {
  if (reply->err() != 0) return;
  reply->set_as_of(as_of);
  hub_.Publish(session, Change::Entry(dir, std::string(name)));
}

uint64_t RbfsService::ChildOf(InodeRef parent, absl::string_view name) {
  absl::StatusOr<Entry> child = fs_->Lookup(parent, name);
  return child.ok() ? child->ino : 0;
}

uint64_t RbfsService::WatchedChild(uint64_t session, const InodeId& parent,
                                   absl::string_view name) {
  return hub_.HeldByOthers(session, parent.ino()) ? ChildOf(RefOf(parent), name)
                                                  : 0;
}

void RbfsService::PublishRemoval(uint64_t session, uint64_t dir,
                                 absl::string_view name, uint64_t child) {
  if (child == 0) {
    hub_.Publish(session, Change::Entry(dir, std::string(name)));
    return;
  }
  const Change changes[] = {Change::Entry(dir, std::string(name)),
                            Change::Attr(child)};
  hub_.Publish(session, changes);
}

}  // namespace rbfs
