#ifndef UPSHIFT_LIBS_COMMON_STATUS_MACROS_H_
#define UPSHIFT_LIBS_COMMON_STATUS_MACROS_H_

// Abseil 20220623 ships neither RETURN_IF_ERROR nor ASSIGN_OR_RETURN; these are ours.

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#define UPSHIFT_RETURN_IF_ERROR(expr)                \
  do {                                               \
    if (absl::Status _st = (expr); !_st.ok()) {      \
      return _st;                                    \
    }                                                \
  } while (false)

#define UPSHIFT_CONCAT_INNER_(a, b) a##b
#define UPSHIFT_CONCAT_(a, b) UPSHIFT_CONCAT_INNER_(a, b)

#define UPSHIFT_ASSIGN_OR_RETURN(lhs, expr) \
  UPSHIFT_ASSIGN_OR_RETURN_IMPL_(UPSHIFT_CONCAT_(_statusor_, __LINE__), lhs, expr)

#define UPSHIFT_ASSIGN_OR_RETURN_IMPL_(tmp, lhs, expr) \
  auto tmp = (expr);                                   \
  if (!tmp.ok()) return std::move(tmp).status();       \
  lhs = std::move(tmp).value()

#endif  // UPSHIFT_LIBS_COMMON_STATUS_MACROS_H_
