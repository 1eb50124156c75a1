#include "client/cli/status_report.h"

#include "gtest/gtest.h"

namespace rbfs {
namespace {

TEST(StatusReportTest, SizesAndDurationsReadAsAnOperatorWould) {
  EXPECT_EQ(ReadableBytes(512), "512 B");
  EXPECT_EQ(ReadableBytes(1536), "1.5 KiB");
  EXPECT_EQ(ReadableBytes(uint64_t{16} << 30), "16.0 GiB");
  EXPECT_EQ(ReadableBytes(uint64_t{3} << 50), "3.0 PiB");
  EXPECT_EQ(ReadableDuration(absl::Milliseconds(250)), "250 ms");
  EXPECT_EQ(ReadableDuration(absl::Milliseconds(12500)), "12.5 s");
  EXPECT_EQ(ReadableDuration(absl::Seconds(250)), "4m 10s");
  EXPECT_EQ(ReadableDuration(absl::Minutes(123)), "2h 03m");
  EXPECT_EQ(ReadableDuration(absl::Hours(50)), "2d 02h");
}

StatusReply Example() {
  StatusReply status;
  status.set_uptime_ms(7380000);
  status.set_commits(40);
  status.set_commit_seconds(0.1);
  status.set_lease_ms(10000);
  StatFsReply* usage = status.mutable_usage();
  usage->set_block_size(4096);
  usage->set_total_blocks(4 << 20);
  usage->set_free_blocks(3 << 20);
  usage->set_total_inodes(1000);
  usage->set_free_inodes(900);
  SessionStatus* a = status.add_sessions();
  a->set_session(0x1f3a);
  a->set_peer("ipv4:10.0.0.7:51234");
  a->set_open_handles(3);
  a->set_renewed_ms_ago(1200);
  a->set_confirmed(true);
  SessionStatus* b = status.add_sessions();
  b->set_session(0xbeef);
  b->set_open_handles(1);
  b->set_renewed_ms_ago(40);
  return status;
}

TEST(StatusReportTest, SaysHealthUsageAndEachSessionInAFewLines) {
  EXPECT_EQ(FormatStatus(Example(), "srv:7420"),
            "rbfs-server srv:7420: up 2h 03m, commits ok (40 commits, 2.5 ms "
            "each on average)\n"
            "volume: 4.0 GiB of 16.0 GiB used (25.0%), 12.0 GiB free, 4.0 KiB "
            "blocks; 100 of 1000 inodes used\n"
            "sessions: 2 (lease 10.0 s)\n"
            "  0000000000001f3a  ipv4:10.0.0.7:51234       3 open files  "
            "renewed 1.2 s ago\n"
            "  000000000000beef  -                         1 open file  "
            "renewed 40 ms ago  (reclaiming after a restart)\n");
}

TEST(StatusReportTest, AFailingCommitIsTheFirstThingSaid) {
  StatusReply status = Example();
  status.set_commit_failure("IO_ERROR: fsync of the volume: EIO");
  const std::string text = FormatStatus(status, "srv:7420");
  EXPECT_EQ(text.substr(0, text.find('\n')),
            "rbfs-server srv:7420: up 2h 03m, COMMITS FAILING since: "
            "IO_ERROR: fsync of the volume: EIO (40 commits, 2.5 ms each on "
            "average)");
}

}  // namespace
}  // namespace rbfs
