#include "server/auth/access_policy.h"

#include <fcntl.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "testing/fake_clock.h"

namespace rbfs {
namespace {

constexpr char kToken[] = "0123456789abcdef-policy";

const std::vector<Operation>& AllOperations() {
  static const auto* all = new std::vector<Operation>{
      Operation::kLookup,      Operation::kGetAttr,   Operation::kSetAttr,
      Operation::kMkNod,       Operation::kMkDir,     Operation::kUnlink,
      Operation::kRmDir,       Operation::kRename,    Operation::kLink,
      Operation::kSymlink,     Operation::kReadLink,  Operation::kReadDir,
      Operation::kStatFs,      Operation::kFsync,     Operation::kOpen,
      Operation::kRelease,     Operation::kRead,      Operation::kWrite,
      Operation::kGetXattr,    Operation::kListXattr, Operation::kSetXattr,
      Operation::kRemoveXattr, Operation::kLock,      Operation::kFallocate,
      Operation::kSeek,        Operation::kCopyRange, Operation::kKeepAlive,
      Operation::kStatus,      Operation::kWatch,     Operation::kExchange};
  return *all;
}

const std::set<Operation>& ChangingOperations() {
  static const auto* changing = new std::set<Operation>{
      Operation::kSetAttr,  Operation::kMkNod,       Operation::kMkDir,
      Operation::kUnlink,   Operation::kRmDir,       Operation::kRename,
      Operation::kLink,     Operation::kSymlink,     Operation::kWrite,
      Operation::kSetXattr, Operation::kRemoveXattr, Operation::kFallocate,
      Operation::kCopyRange};
  return *changing;
}

// Credentials that count how often the policy looks at them.
class FakeCredentials final : public CallCredentials {
 public:
  explicit FakeCredentials(std::string authorization = "")
      : authorization_(std::move(authorization)) {}

  absl::string_view Authorization() const override {
    ++authorization_asked_;
    return authorization_;
  }
  std::string Peer() const override {
    ++peer_asked_;
    return "ipv4:192.0.2.1:1234";
  }

  int authorization_asked() const { return authorization_asked_; }
  int peer_asked() const { return peer_asked_; }

 private:
  const std::string authorization_;
  mutable int authorization_asked_ = 0;
  mutable int peer_asked_ = 0;
};

AccessRequest Request(Operation op) {
  AccessRequest request;
  request.op = op;
  return request;
}

AccessRequest OpenWith(uint32_t flags) {
  AccessRequest request = Request(Operation::kOpen);
  request.open_flags = flags;
  return request;
}

AccessRequest CreateAs(uint32_t uid, uint32_t gid) {
  AccessRequest request = Request(Operation::kMkNod);
  request.caller = PosixIds{uid, gid};
  return request;
}

std::unique_ptr<TokenAuthenticator> Authenticator() {
  const std::string path = std::string(std::getenv("TEST_TMPDIR")) + "/token";
  std::ofstream(path, std::ios::trunc) << kToken << "\n";
  chmod(path.c_str(), 0600);
  auto auth = TokenAuthenticator::FromFile(path);
  EXPECT_TRUE(auth.ok()) << auth.status();
  return auth.ok() ? std::move(*auth) : nullptr;
}

TEST(AccessPolicyTest, OperationNamesAreTheProtoMethodNames) {
  EXPECT_EQ(OperationName(Operation::kLookup), "Lookup");
  EXPECT_EQ(OperationName(Operation::kKeepAlive), "KeepAlive");
  EXPECT_EQ(OperationName(Operation::kStatus), "Status");
  std::set<absl::string_view> names;
  for (Operation op : AllOperations()) {
    EXPECT_NE(OperationName(op), "unknown");
    names.insert(OperationName(op));
  }
  EXPECT_EQ(names.size(), AllOperations().size());
}

TEST(AccessPolicyTest, OpenServerRunsEverythingWithoutAskingForCredentials) {
  const AccessPolicy policy({});
  for (Operation op : AllOperations()) {
    FakeCredentials credentials;
    const AccessDecision d = policy.Decide(credentials, Request(op));
    EXPECT_TRUE(d.runs()) << OperationName(op);
    EXPECT_EQ(credentials.authorization_asked(), 0);
    EXPECT_EQ(credentials.peer_asked(), 0);
  }
}

TEST(AccessPolicyTest, TokenRequiredForEveryOperation) {
  const std::unique_ptr<TokenAuthenticator> auth = Authenticator();
  ASSERT_NE(auth, nullptr);
  AccessOptions options;
  options.authenticator = auth.get();
  const AccessPolicy policy(options);
  for (Operation op : AllOperations()) {
    FakeCredentials good(std::string("Bearer ") + kToken);
    EXPECT_TRUE(policy.Decide(good, Request(op)).runs()) << OperationName(op);
    EXPECT_EQ(good.peer_asked(), 0) << "only refusals are logged";

    const AccessDecision none = policy.Decide(FakeCredentials(), Request(op));
    EXPECT_EQ(none.verdict(), AccessDecision::Verdict::kRefuseCaller);
    EXPECT_EQ(none.reason(), "no token");

    const AccessDecision wrong = policy.Decide(
        FakeCredentials("Bearer 0123456789abcdef-other"), Request(op));
    EXPECT_EQ(wrong.verdict(), AccessDecision::Verdict::kRefuseCaller);
    EXPECT_EQ(wrong.reason(), "wrong token");
    EXPECT_EQ(wrong.reason().find("other"), std::string::npos);
  }
}

TEST(AccessPolicyTest, RefusalsAreLoggedAtMostOnceASecondWithTheRestCounted) {
  const std::unique_ptr<TokenAuthenticator> auth = Authenticator();
  ASSERT_NE(auth, nullptr);
  AccessOptions options;
  options.authenticator = auth.get();
  FakeClock clock;
  const AccessPolicy policy(options, &clock);

  ::testing::internal::CaptureStderr();
  FakeCredentials first;
  policy.Decide(first, Request(Operation::kStatFs));
  const std::string first_log = ::testing::internal::GetCapturedStderr();
  EXPECT_EQ(first.peer_asked(), 1);
  EXPECT_NE(first_log.find("refused StatFs from ipv4:192.0.2.1:1234: no token "
                           "(0 more refused calls not logged)"),
            std::string::npos)
      << first_log;

  clock.Advance(absl::Milliseconds(999));
  ::testing::internal::CaptureStderr();
  FakeCredentials second;
  policy.Decide(second, Request(Operation::kWrite));
  EXPECT_EQ(::testing::internal::GetCapturedStderr(), "");
  EXPECT_EQ(second.peer_asked(), 0);

  clock.Advance(absl::Milliseconds(1));
  ::testing::internal::CaptureStderr();
  policy.Decide(FakeCredentials("Bearer 0123456789abcdef-other"),
                Request(Operation::kRead));
  const std::string third_log = ::testing::internal::GetCapturedStderr();
  EXPECT_NE(third_log.find("refused Read from ipv4:192.0.2.1:1234: wrong token "
                           "(1 more refused calls not logged)"),
            std::string::npos)
      << third_log;
}

TEST(AccessPolicyTest, AMissingTokenIsRefusedBeforeTheReadOnlyRule) {
  const std::unique_ptr<TokenAuthenticator> auth = Authenticator();
  ASSERT_NE(auth, nullptr);
  AccessOptions options;
  options.authenticator = auth.get();
  options.read_only = true;
  const AccessPolicy policy(options);
  EXPECT_EQ(
      policy.Decide(FakeCredentials(), Request(Operation::kWrite)).verdict(),
      AccessDecision::Verdict::kRefuseCaller);
  const AccessDecision admitted =
      policy.Decide(FakeCredentials(std::string("Bearer ") + kToken),
                    Request(Operation::kWrite));
  EXPECT_EQ(admitted.verdict(), AccessDecision::Verdict::kAnswerErrno);
  EXPECT_EQ(admitted.err(), EROFS);
}

TEST(AccessPolicyTest, ReadOnlyExportAnswersEveryChangeWithErofs) {
  AccessOptions options;
  options.read_only = true;
  const AccessPolicy policy(options);
  for (Operation op : AllOperations()) {
    if (op == Operation::kOpen) continue;
    const AccessDecision d = policy.Decide(FakeCredentials(), Request(op));
    if (ChangingOperations().count(op) != 0) {
      EXPECT_EQ(d.verdict(), AccessDecision::Verdict::kAnswerErrno)
          << OperationName(op);
      EXPECT_EQ(d.err(), EROFS) << OperationName(op);
    } else {
      EXPECT_TRUE(d.runs()) << OperationName(op);
    }
  }
}

TEST(AccessPolicyTest, ReadOnlyExportOpensOnlyForReadingWithoutTruncation) {
  AccessOptions options;
  options.read_only = true;
  const AccessPolicy policy(options);
  EXPECT_TRUE(policy.Decide(FakeCredentials(), OpenWith(O_RDONLY)).runs());
  EXPECT_TRUE(
      policy.Decide(FakeCredentials(), OpenWith(O_RDONLY | O_DIRECT)).runs());
  for (uint32_t flags :
       {O_WRONLY, O_RDWR, O_RDONLY | O_TRUNC, O_WRONLY | O_APPEND}) {
    const AccessDecision d = policy.Decide(FakeCredentials(), OpenWith(flags));
    EXPECT_EQ(d.err(), EROFS) << flags;
  }
}

TEST(AccessPolicyTest, WritableExportRunsChanges) {
  const AccessPolicy policy({});
  for (Operation op : ChangingOperations()) {
    EXPECT_TRUE(policy.Decide(FakeCredentials(), Request(op)).runs())
        << OperationName(op);
  }
  EXPECT_TRUE(
      policy.Decide(FakeCredentials(), OpenWith(O_RDWR | O_TRUNC)).runs());
}

TEST(AccessPolicyTest, WithoutSquashCallersKeepTheirIdsRootIncluded) {
  const AccessPolicy policy({});
  const AccessDecision root = policy.Decide(FakeCredentials(), CreateAs(0, 0));
  EXPECT_EQ(root.owner().uid, 0u);
  EXPECT_EQ(root.owner().gid, 0u);
  const AccessDecision user =
      policy.Decide(FakeCredentials(), CreateAs(1000, 100));
  EXPECT_EQ(user.owner().uid, 1000u);
  EXPECT_EQ(user.owner().gid, 100u);

  AccessRequest chown = Request(Operation::kSetAttr);
  chown.new_uid = 0;
  chown.new_gid = 0;
  EXPECT_TRUE(policy.Decide(FakeCredentials(), chown).runs());
}

AccessOptions Squashing() {
  AccessOptions options;
  options.squash_root = PosixIds{65534, 65533};
  return options;
}

TEST(AccessPolicyTest, SquashReplacesRootUidAndGidEachOnItsOwn) {
  const AccessPolicy policy(Squashing());
  const AccessDecision root = policy.Decide(FakeCredentials(), CreateAs(0, 0));
  ASSERT_TRUE(root.runs());
  EXPECT_EQ(root.owner().uid, 65534u);
  EXPECT_EQ(root.owner().gid, 65533u);
  const AccessDecision root_uid =
      policy.Decide(FakeCredentials(), CreateAs(0, 100));
  EXPECT_EQ(root_uid.owner().uid, 65534u);
  EXPECT_EQ(root_uid.owner().gid, 100u);
  const AccessDecision root_gid =
      policy.Decide(FakeCredentials(), CreateAs(1000, 0));
  EXPECT_EQ(root_gid.owner().uid, 1000u);
  EXPECT_EQ(root_gid.owner().gid, 65533u);
  const AccessDecision user =
      policy.Decide(FakeCredentials(), CreateAs(1000, 100));
  EXPECT_EQ(user.owner().uid, 1000u);
  EXPECT_EQ(user.owner().gid, 100u);
}

TEST(AccessPolicyTest, SquashRefusesHandingObjectsToRootWithEperm) {
  const AccessPolicy policy(Squashing());
  AccessRequest to_root_uid = Request(Operation::kSetAttr);
  to_root_uid.new_uid = 0;
  EXPECT_EQ(policy.Decide(FakeCredentials(), to_root_uid).err(), EPERM);
  AccessRequest to_root_gid = Request(Operation::kSetAttr);
  to_root_gid.new_gid = 0;
  EXPECT_EQ(policy.Decide(FakeCredentials(), to_root_gid).err(), EPERM);
  AccessRequest to_user = Request(Operation::kSetAttr);
  to_user.new_uid = 1000;
  to_user.new_gid = 100;
  EXPECT_TRUE(policy.Decide(FakeCredentials(), to_user).runs());
  // A SetAttr that changes neither (a chmod by root) runs.
  AccessRequest chmod_by_root = Request(Operation::kSetAttr);
  chmod_by_root.caller = PosixIds{0, 0};
  EXPECT_TRUE(policy.Decide(FakeCredentials(), chmod_by_root).runs());
}

TEST(AccessPolicyTest, ReadOnlyComesBeforeSquash) {
  AccessOptions options = Squashing();
  options.read_only = true;
  const AccessPolicy policy(options);
  AccessRequest chown = Request(Operation::kSetAttr);
  chown.new_uid = 0;
  EXPECT_EQ(policy.Decide(FakeCredentials(), chown).err(), EROFS);
}

}  // namespace
}  // namespace rbfs
