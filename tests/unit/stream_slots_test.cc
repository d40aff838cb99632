#include "libs/common/stream_slots.h"

#include <gtest/gtest.h>

namespace upshift {
namespace {

TEST(StreamSlots, BoundsEachCallerAndTheWholeServerAndGivesSlotsBack) {
  StreamSlots slots(/*total=*/3, /*per_caller=*/2);
  auto a1 = slots.Take("alice");
  auto a2 = slots.Take("alice");
  ASSERT_TRUE(a1.ok() && a2.ok());
  absl::Status third = slots.Take("alice").status();
  EXPECT_EQ(third.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_NE(third.message().find("a caller may hold 2"), std::string::npos) << third;
  auto b1 = slots.Take("bob");
  ASSERT_TRUE(b1.ok());
  absl::Status full = slots.Take("carol").status();
  EXPECT_EQ(full.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_NE(full.message().find("already holds 3"), std::string::npos) << full;
  a1->reset();  // a stream ends
  EXPECT_TRUE(slots.Take("carol").ok());
  EXPECT_TRUE(slots.Take("alice").ok());  // and carol's slot went back when its handle was dropped
}

}  // namespace
}  // namespace upshift
