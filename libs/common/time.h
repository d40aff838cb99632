#ifndef UPSHIFT_LIBS_COMMON_TIME_H_
#define UPSHIFT_LIBS_COMMON_TIME_H_

#include "absl/time/time.h"

namespace google::protobuf {
class Duration;
class Timestamp;
}

namespace upshift {

// The source of "now" for logic that records or compares times. Implementations are thread-safe.
class Clock {
 public:
  virtual ~Clock() = default;
  virtual absl::Time Now() = 0;
};

// The system's wall clock.
Clock& SystemClock();

void ToProto(absl::Time t, google::protobuf::Timestamp* out);
absl::Time FromProto(const google::protobuf::Timestamp& ts);
void ToProto(absl::Duration d, google::protobuf::Duration* out);
absl::Duration FromProto(const google::protobuf::Duration& d);

}  // namespace upshift

#endif  // UPSHIFT_LIBS_COMMON_TIME_H_
