#ifndef UPSHIFT_LIBS_COMMON_DEADLINE_H_
#define UPSHIFT_LIBS_COMMON_DEADLINE_H_

#include "absl/time/time.h"

namespace upshift {

// The deadline of the call this thread works for (a gRPC caller's), for the adapters below the
// logic to honour without every interface carrying it: a read inside a customer database waits and
// runs no longer than the caller waits for its answer. Scopes nest; the innermost wins.
class DeadlineScope {
 public:
  explicit DeadlineScope(absl::Time deadline);
  ~DeadlineScope();
  DeadlineScope(const DeadlineScope&) = delete;
  DeadlineScope& operator=(const DeadlineScope&) = delete;

  // The current call's deadline; InfiniteFuture outside any scope.
  static absl::Time Current();

 private:
  absl::Time previous_;
};

// `limit`, or less: what is left until the current call's deadline, when that is sooner.
absl::Duration WithinCallDeadline(absl::Duration limit);

}  // namespace upshift

#endif  // UPSHIFT_LIBS_COMMON_DEADLINE_H_
