#include "client/core/io_context.h"

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdint>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/errno_status.h"
#include "gtest/gtest.h"

namespace rbfs {
namespace {

// The byte stored at absolute file position `pos` in these tests.
char PatternByte(uint64_t pos) { return static_cast<char>(pos * 131 + 7); }

// How the fake server answers one chunk.
struct Outcome {
  int err = 0;               // errno, 0 for success
  uint32_t transferred = 0;  // bytes moved when err == 0
};

// A transport that parks every chunk until the test completes it, so the test
// controls completion order and thread, like a network would.
class FakeSender : public ChunkSender {
 public:
  void Send(std::shared_ptr<IoContext> context, size_t index) override {
    pending_.push_back({std::move(context), index});
  }

  struct Pending {
    std::shared_ptr<IoContext> context;
    size_t index;
  };
  std::vector<Pending>& pending() { return pending_; }

 private:
  std::vector<Pending> pending_;
};

// Plays the server for one chunk: checks a write's payload is intact (its
// buffer is still owned by the context), fills a read's buffer.
void Answer(IoContext& context, size_t index, const Outcome& outcome) {
  IoContext::Chunk& chunk = context.chunk(index);
  if (context.direction() == IoContext::Direction::kWrite) {
    ASSERT_EQ(chunk.buffer.size(), chunk.length);
    for (uint32_t i = 0; i < chunk.length; ++i) {
      ASSERT_EQ(chunk.buffer[i], PatternByte(chunk.offset + i))
          << "payload of chunk " << index << " changed before completion";
    }
  } else if (outcome.err == 0) {
    chunk.buffer.clear();
    for (uint32_t i = 0; i < outcome.transferred; ++i) {
      chunk.buffer.push_back(PatternByte(chunk.offset + i));
    }
  }
  context.CompleteChunk(
      index, outcome.err == 0 ? absl::OkStatus() : ErrnoError(outcome.err),
      outcome.transferred);
}

// What the kernel's rules say the request returns, given the outcomes in
// completion order.
absl::StatusOr<size_t> Expected(bool write, uint64_t offset, size_t size,
                                const std::vector<ChunkSpan>& spans,
                                const std::vector<Outcome>& outcomes,
                                const std::vector<size_t>& order) {
  for (size_t index : order) {
    if (outcomes[index].err != 0) return ErrnoError(outcomes[index].err);
  }
  uint64_t first_short_end = UINT64_MAX;
  for (size_t i = 0; i < spans.size(); ++i) {
    if (outcomes[i].transferred < spans[i].length) {
      first_short_end =
          std::min(first_short_end, spans[i].offset + outcomes[i].transferred);
    }
  }
  if (first_short_end == UINT64_MAX) return size;
  if (write) return ErrnoError(EIO);
  return static_cast<size_t>(first_short_end - offset);
}

std::string PatternData(uint64_t offset, size_t size) {
  std::string data(size, '\0');
  for (size_t i = 0; i < size; ++i) data[i] = PatternByte(offset + i);
  return data;
}

TEST(SplitIntoChunksTest, CutsOnBoundaries) {
  std::vector<ChunkSpan> spans = SplitIntoChunks(100, 300, 128);
  ASSERT_EQ(spans.size(), 4u);
  EXPECT_EQ(spans[0].offset, 100u);
  EXPECT_EQ(spans[0].length, 28u);
  EXPECT_EQ(spans[1].offset, 128u);
  EXPECT_EQ(spans[1].length, 128u);
  EXPECT_EQ(spans[2].offset, 256u);
  EXPECT_EQ(spans[2].length, 128u);
  EXPECT_EQ(spans[3].offset, 384u);
  EXPECT_EQ(spans[3].length, 16u);
}

TEST(SplitIntoChunksTest, AlignedAndInsideOneChunk) {
  EXPECT_EQ(SplitIntoChunks(256, 256, 128).size(), 2u);
  std::vector<ChunkSpan> one = SplitIntoChunks(130, 10, 128);
  ASSERT_EQ(one.size(), 1u);
  EXPECT_EQ(one[0].length, 10u);
  EXPECT_TRUE(SplitIntoChunks(5, 0, 128).empty());
}

// Drives one request through a FakeSender with the given outcomes and
// completion order, and checks every rule of the kernel's finalisation.
void RunScenario(bool write, uint64_t offset, size_t size, uint32_t chunk_size,
                 const std::vector<Outcome>& outcomes,
                 const std::vector<size_t>& order) {
  BufferPool pool(64);
  FakeSender sender;
  int finished = 0;
  int raised = 0;
  size_t completed = 0;
  uint64_t raised_to = 0;
  absl::StatusOr<size_t> result;
  std::string read_back;
  auto finisher = [&](IoContext& context, absl::StatusOr<size_t> r) {
    ++finished;
    EXPECT_EQ(completed, context.num_chunks())
        << "finalised before the last chunk returned";
    EXPECT_EQ(pool.returned(), 0u) << "a chunk buffer was freed early";
    if (r.ok() && !write) {
      for (const iovec& v : context.Gather(*r)) {
        read_back.append(static_cast<const char*>(v.iov_base), v.iov_len);
      }
    }
    result = std::move(r);
  };
  std::string data = PatternData(offset, size);
  std::shared_ptr<IoContext> context =
      write ? IoContext::CreateWrite(
                  offset, data.data(), size, chunk_size, &pool, finisher,
                  [&](uint64_t end) {
                    ++raised;
                    raised_to = end;
                    EXPECT_EQ(completed, outcomes.size());
                    EXPECT_EQ(finished, 0) << "size raised after the reply";
                  })
            : IoContext::CreateRead(offset, size, chunk_size, &pool, finisher);
  // The caller's buffer may be reused as soon as the write is set up.
  std::fill(data.begin(), data.end(), 'X');
  context->Start(sender);
  ASSERT_EQ(sender.pending().size(), outcomes.size());
  for (size_t n = 0; n < order.size(); ++n) {
    EXPECT_EQ(finished, 0);
    FakeSender::Pending& p = sender.pending()[order[n]];
    ++completed;
    Answer(*p.context, p.index, outcomes[p.index]);
  }
  EXPECT_EQ(finished, 1);
  std::vector<ChunkSpan> spans = SplitIntoChunks(offset, size, chunk_size);
  absl::StatusOr<size_t> expected =
      Expected(write, offset, size, spans, outcomes, order);
  ASSERT_EQ(result.ok(), expected.ok()) << result.status();
  if (expected.ok()) {
    EXPECT_EQ(*result, *expected);
    if (!write) {
      EXPECT_EQ(read_back, PatternData(offset, *expected));
    }
  } else {
    EXPECT_EQ(StatusToErrno(result.status()), StatusToErrno(expected.status()));
  }
  const bool should_raise = write && expected.ok() && *expected > 0;
  EXPECT_EQ(raised, should_raise ? 1 : 0);
  if (should_raise) {
    EXPECT_EQ(raised_to, offset + *expected);
  }

  sender.pending().clear();
  context.reset();
  EXPECT_EQ(pool.returned(), outcomes.size()) << "chunk buffers leaked";
}

TEST(IoContextTest, FullTransfersReturnTheWholeSize) {
  std::vector<Outcome> outcomes = {{0, 28}, {0, 128}, {0, 128}, {0, 16}};
  RunScenario(false, 100, 300, 128, outcomes, {2, 0, 3, 1});
  RunScenario(true, 100, 300, 128, outcomes, {1, 3, 2, 0});
}

TEST(IoContextTest, ShortReadReturnsBytesUpToTheFirstShortChunk) {
  // Chunk 1 stops early (end of file); chunk 2 raced an extension and is
  // full, but data past the first hole must not be returned.
  std::vector<Outcome> outcomes = {{0, 128}, {0, 50}, {0, 128}, {0, 10}};
  RunScenario(false, 0, 512, 128, outcomes, {3, 2, 1, 0});
}

TEST(IoContextTest, ShortWriteIsAnIoError) {
  std::vector<Outcome> outcomes = {{0, 128}, {0, 100}, {0, 128}};
  RunScenario(true, 0, 384, 128, outcomes, {0, 2, 1});
}

TEST(IoContextTest, FirstErrorInCompletionOrderWins) {
  std::vector<Outcome> outcomes = {{ENOSPC, 0}, {0, 128}, {EIO, 0}};
  RunScenario(true, 0, 384, 128, outcomes, {2, 1, 0});
  RunScenario(false, 0, 384, 128, outcomes, {0, 1, 2});
}

TEST(IoContextTest, ErrorBeatsShortTransfer) {
  std::vector<Outcome> outcomes = {{0, 3}, {ESTALE, 0}};
  RunScenario(false, 0, 256, 128, outcomes, {0, 1});
}

TEST(IoContextTest, ReadEntirelyPastEndOfFileReturnsZero) {
  std::vector<Outcome> outcomes = {{0, 0}, {0, 0}};
  RunScenario(false, 4096, 256, 128, outcomes, {1, 0});
}

TEST(IoContextTest, EmptyRequestFinishesAtStart) {
  RunScenario(false, 10, 0, 128, {}, {});
}

TEST(IoContextTest, RandomOrderErrorsAndShortTransfers) {
  std::mt19937_64 rng(20261124);
  for (int iteration = 0; iteration < 3000; ++iteration) {
    const uint32_t chunk_size =
        1u << std::uniform_int_distribution<int>(4, 10)(rng);
    const uint64_t offset =
        std::uniform_int_distribution<uint64_t>(0, 8 * chunk_size)(rng);
    const size_t size =
        std::uniform_int_distribution<size_t>(1, 12 * chunk_size)(rng);
    const bool write = rng() % 2 == 0;
    std::vector<ChunkSpan> spans = SplitIntoChunks(offset, size, chunk_size);
    std::vector<Outcome> outcomes;
    for (const ChunkSpan& span : spans) {
      Outcome outcome{0, span.length};
      switch (rng() % 8) {
        case 0:
          outcome = {(rng() % 2) ? EIO : ENOSPC, 0};
          break;
        case 1:
          outcome.transferred = static_cast<uint32_t>(rng() % span.length);
          break;
        default:
          break;
      }
      outcomes.push_back(outcome);
    }
    std::vector<size_t> order(spans.size());
    for (size_t i = 0; i < order.size(); ++i) order[i] = i;
    std::shuffle(order.begin(), order.end(), rng);
    SCOPED_TRACE(testing::Message() << "iteration " << iteration);
    RunScenario(write, offset, size, chunk_size, outcomes, order);
    if (testing::Test::HasFatalFailure()) return;
  }
}

// A sender that answers inside Send(), as a transport may when a call fails
// immediately: the context must still wait until every chunk was sent.
class InlineSender : public ChunkSender {
 public:
  explicit InlineSender(const int* finished) : finished_(finished) {}
  void Send(std::shared_ptr<IoContext> context, size_t index) override {
    EXPECT_EQ(*finished_, 0) << "finalised while chunks were still unsent";
    ++sent_;
    Answer(*context, index, {0, context->chunk(index).length});
  }
  int sent() const { return sent_; }

 private:
  const int* finished_;
  int sent_ = 0;
};

TEST(IoContextTest, InlineCompletionsFinaliseOnlyAfterEverySend) {
  BufferPool pool(8);
  int finished = 0;
  size_t bytes = 0;
  InlineSender sender(&finished);
  std::string data = PatternData(0, 1000);
  std::shared_ptr<IoContext> context = IoContext::CreateWrite(
      0, data.data(), data.size(), 100, &pool,
      [&](IoContext&, absl::StatusOr<size_t> r) {
        ++finished;
        bytes = *r;
      },
      nullptr);
  context->Start(sender);
  EXPECT_EQ(sender.sent(), 10);
  EXPECT_EQ(finished, 1);
  EXPECT_EQ(bytes, 1000u);
}

TEST(IoContextTest, ConcurrentCompletionsFinaliseExactlyOnce) {
  BufferPool pool(256);
  for (int round = 0; round < 200; ++round) {
    FakeSender sender;
    std::atomic<int> finished{0};
    std::atomic<int> raised{0};
    std::atomic<size_t> completed{0};
    std::string data = PatternData(round, 64 * 64);
    std::shared_ptr<IoContext> context = IoContext::CreateWrite(
        round, data.data(), data.size(), 64, &pool,
        [&](IoContext& c, absl::StatusOr<size_t> r) {
          EXPECT_EQ(completed.load(), c.num_chunks());
          EXPECT_EQ(*r, data.size());
          ++finished;
        },
        [&](uint64_t) { ++raised; });
    context->Start(sender);
    context.reset();
    std::vector<std::thread> threads;
    for (int t = 0; t < 8; ++t) {
      threads.emplace_back([&, t] {
        for (size_t i = t; i < sender.pending().size(); i += 8) {
          FakeSender::Pending p = std::move(sender.pending()[i]);
          ++completed;
          Answer(*p.context, p.index, {0, p.context->chunk(p.index).length});
        }
      });
    }
    for (std::thread& thread : threads) thread.join();
    EXPECT_EQ(finished.load(), 1);
    EXPECT_EQ(raised.load(), 1);
  }
}

}  // namespace
}  // namespace rbfs

namespace rbfs {
namespace {

TEST(IoContextTest, ReleaseHookRunsAfterTheReplyWithEveryBufferReturned) {
  BufferPool pool(16);
  std::vector<std::string> events;
  std::shared_ptr<IoContext> context =
      IoContext::CreateRead(100, 3 * 4096, 4096, &pool,
                            [&](IoContext& c, absl::StatusOr<size_t> result) {
                              ASSERT_TRUE(result.ok());
                              // The reply gathers from the chunk buffers: they
                              // are still ours.
                              size_t gathered = 0;
                              for (const iovec& v : c.Gather(*result))
                                gathered += v.iov_len;
                              EXPECT_EQ(gathered, *result);
                              EXPECT_EQ(pool.returned(), 0u);
                              events.push_back("finish");
                            });
  const size_t chunks = context->num_chunks();
  context->SetReleaseHook([&] {
    EXPECT_EQ(pool.returned(), chunks) << "buffers back before the hook";
    events.push_back("released");
  });
  FakeSender sender;
  context->Start(sender);
  std::weak_ptr<IoContext> weak = context;
  context.reset();
  for (FakeSender::Pending& p : sender.pending()) {
    Answer(*p.context, p.index, Outcome{0, p.context->chunk(p.index).length});
  }
  EXPECT_EQ(events, (std::vector<std::string>{"finish", "released"}));
  sender.pending().clear();
  EXPECT_TRUE(weak.expired());
  EXPECT_EQ(pool.returned(), chunks) << "the destructor returns nothing twice";
}

}  // namespace
}  // namespace rbfs
