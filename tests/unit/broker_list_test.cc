#include <gtest/gtest.h>

#include "libs/kafka/worker.h"

namespace upshift {
namespace {

TEST(CheckBrokerList, HostPortListsPass) {
  for (const char* ok : {"127.0.0.1:9092", "kafka-0.kafka:9093,kafka-1.kafka:9093", "SASL_SSL://broker:9094",
                         "[::1]:9092", " a:1 , b:2 "}) {
    EXPECT_TRUE(CheckBrokerList(ok).ok()) << ok;
  }
}

TEST(CheckBrokerList, AnythingElseIsInvalid) {
  for (const char* bad : {"", "broker", "broker:", ":9092", "broker:port", "broker:0", "broker:70000", "a:1,,b:2",
                          "http://user@broker:1", "a b:1"}) {
    EXPECT_EQ(CheckBrokerList(bad).code(), absl::StatusCode::kInvalidArgument) << bad;
  }
}

}  // namespace
}  // namespace upshift
