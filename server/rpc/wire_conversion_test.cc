#include "server/rpc/wire_conversion.h"

#include <cerrno>
#include <limits>

#include "gtest/gtest.h"

namespace rbfs {
namespace {

constexpr int64_t kMaxSec =
    std::numeric_limits<int64_t>::max() / 1000000000 - 1;

Timespec Time(int64_t sec, uint32_t nsec) {
  Timespec t;
  t.set_sec(sec);
  t.set_nsec(nsec);
  return t;
}

TEST(WireConversionTest, ToNsConvertsAndSaturates) {
  EXPECT_EQ(ToNs(Time(3, 5)), 3000000005);
  EXPECT_EQ(ToNs(Time(-2, 500000000)), -1500000000);
  // Found by tests/fuzz: seconds * 10^9 overflowed int64 for far times.
  EXPECT_EQ(ToNs(Time(std::numeric_limits<int64_t>::max(), 0)),
            kMaxSec * 1000000000);
  EXPECT_EQ(ToNs(Time(std::numeric_limits<int64_t>::min(), 0)),
            -kMaxSec * 1000000000);
  EXPECT_EQ(ToNs(Time(0, 4000000000u)), 999999999);
}

TEST(WireConversionTest, SetTimeKeepsNanosecondsNonNegative) {
  Timespec t;
  SetTime(&t, 1500000000);
  EXPECT_EQ(t.sec(), 1);
  EXPECT_EQ(t.nsec(), 500000000u);
  SetTime(&t, -1);
  EXPECT_EQ(t.sec(), -1);
  EXPECT_EQ(t.nsec(), 999999999u);
  SetTime(&t, -2000000000);
  EXPECT_EQ(t.sec(), -2);
  EXPECT_EQ(t.nsec(), 0u);
}

meta::InodeRecord Record() {
  meta::InodeRecord r;
  r.set_generation(7);
  r.set_mode(0100640);
  r.set_nlink(2);
  r.set_uid(1000);
  r.set_gid(100);
  r.set_size(12345);
  r.set_blocks_used(3);
  r.set_rdev(9);
  r.set_atime_ns(1000000001);
  r.set_mtime_ns(2000000002);
  r.set_ctime_ns(-1);
  return r;
}

TEST(WireConversionTest, FillAttrCopiesTheRecordAndCountsSectors) {
  Attr a;
  FillAttr(Entry{42, Record()}, 4096, &a);
  EXPECT_EQ(a.id().ino(), 42u);
  EXPECT_EQ(a.id().generation(), 7u);
  EXPECT_EQ(a.mode(), 0100640u);
  EXPECT_EQ(a.nlink(), 2u);
  EXPECT_EQ(a.uid(), 1000u);
  EXPECT_EQ(a.gid(), 100u);
  EXPECT_EQ(a.size(), 12345u);
  EXPECT_EQ(a.blocks(), 3u * 8);
  EXPECT_EQ(a.blksize(), 4096u);
  EXPECT_EQ(a.rdev(), 9u);
  EXPECT_EQ(a.atime().sec(), 1);
  EXPECT_EQ(a.atime().nsec(), 1u);
  EXPECT_EQ(a.mtime().sec(), 2);
  EXPECT_EQ(a.mtime().nsec(), 2u);
  EXPECT_EQ(a.ctime().sec(), -1);
  EXPECT_EQ(a.ctime().nsec(), 999999999u);
}

TEST(WireConversionTest, RequestNamesBecomeFilesystemRefs) {
  InodeId id;
  id.set_ino(5);
  id.set_generation(6);
  const InodeRef ref = RefOf(id);
  EXPECT_EQ(ref.ino, 5u);
  EXPECT_EQ(ref.generation, 6u);

  CallId call;
  call.set_session(11);
  call.set_seq(12);
  const CallRef c = CallOf(call);
  EXPECT_EQ(c.session, 11u);
  EXPECT_EQ(c.seq, 12u);
}

TEST(WireConversionTest, SetAttrArgsOfCopiesEveryField) {
  SetAttrRequest req;
  req.set_valid(SETATTR_MODE | SETATTR_SIZE | SETATTR_MTIME);
  req.set_mode(0600);
  req.set_uid(3);
  req.set_gid(4);
  req.set_size(99);
  *req.mutable_atime() = Time(1, 2);
  *req.mutable_mtime() = Time(std::numeric_limits<int64_t>::max(), 0);
  const SetAttrArgs args = SetAttrArgsOf(req);
  EXPECT_EQ(args.valid, req.valid());
  EXPECT_EQ(args.mode, 0600u);
  EXPECT_EQ(args.uid, 3u);
  EXPECT_EQ(args.gid, 4u);
  EXPECT_EQ(args.size, 99u);
  EXPECT_EQ(args.atime_ns, 1000000002);
  EXPECT_EQ(args.mtime_ns, kMaxSec * 1000000000);
}

DirListing Listing() {
  DirListing listing;
  listing.parent = 1;
  listing.eof = true;
  DirItem item;
  item.name = "f";
  item.cookie = 8;
  item.ino = 42;
  item.type = 0100000;
  item.inode = Record();
  listing.items.push_back(item);
  return listing;
}

TEST(WireConversionTest, FillReadDirAddsAttributesOnlyWhenAsked) {
  ReadDirReply plain;
  FillReadDir(Listing(), /*with_attrs=*/false, 4096, &plain);
  EXPECT_EQ(plain.parent(), 1u);
  EXPECT_TRUE(plain.eof());
  ASSERT_EQ(plain.entries_size(), 1);
  EXPECT_EQ(plain.entries(0).name(), "f");
  EXPECT_EQ(plain.entries(0).cookie(), 8u);
  EXPECT_EQ(plain.entries(0).ino(), 42u);
  EXPECT_EQ(plain.entries(0).type(), 0100000u);
  EXPECT_FALSE(plain.entries(0).has_attr());

  ReadDirReply plus;
  FillReadDir(Listing(), /*with_attrs=*/true, 4096, &plus);
  ASSERT_EQ(plus.entries_size(), 1);
  ASSERT_TRUE(plus.entries(0).has_attr());
  EXPECT_EQ(plus.entries(0).attr().id().ino(), 42u);
  EXPECT_EQ(plus.entries(0).attr().size(), 12345u);
}

TEST(WireConversionTest, FillStatFsAndKeepAlive) {
  StatFsReply st;
  FillStatFs(FsStats{4096, 100, 40, 1000, 990}, &st);
  EXPECT_EQ(st.block_size(), 4096u);
  EXPECT_EQ(st.total_blocks(), 100u);
  EXPECT_EQ(st.free_blocks(), 40u);
  EXPECT_EQ(st.total_inodes(), 1000u);
  EXPECT_EQ(st.free_inodes(), 990u);
  EXPECT_EQ(st.max_name_length(), Filesystem::kMaxNameLength);
  EXPECT_TRUE(st.keeps_acls());

  KeepAliveReply ka;
  FillKeepAlive(KeepAliveResult{true, absl::Seconds(30)}, &ka);
  EXPECT_TRUE(ka.known());
  EXPECT_EQ(ka.lease_ms(), 30000u);
}

TEST(WireConversionTest, AnswerPutsTheExactErrnoInTheReply) {
  AttrReply failed;
  EXPECT_TRUE(
      Answer(absl::StatusOr<Entry>(ErrnoError(ESTALE)), 4096, &failed).ok());
  EXPECT_EQ(failed.err(), ESTALE);
  EXPECT_FALSE(failed.has_attr());

  AttrReply found;
  EXPECT_TRUE(
      Answer(absl::StatusOr<Entry>(Entry{42, Record()}), 4096, &found).ok());
  EXPECT_EQ(found.err(), 0);
  EXPECT_EQ(found.attr().id().ino(), 42u);

  ErrReply not_empty;
  EXPECT_TRUE(Answer(ErrnoError(ENOTEMPTY), &not_empty).ok());
  EXPECT_EQ(not_empty.err(), ENOTEMPTY);
  ErrReply done;
  EXPECT_TRUE(Answer(absl::OkStatus(), &done).ok());
  EXPECT_EQ(done.err(), 0);
}

}  // namespace
}  // namespace rbfs
