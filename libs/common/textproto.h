#ifndef UPSHIFT_LIBS_COMMON_TEXTPROTO_H_
#define UPSHIFT_LIBS_COMMON_TEXTPROTO_H_

#include <string>

#include <google/protobuf/message.h>
#include <google/protobuf/text_format.h>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace upshift {

// The whole file at `path`. INVALID_ARGUMENT naming it when it cannot be read.
absl::StatusOr<std::string> ReadFile(const std::string& path);

// Parses `text`, the Protobuf text format of `message`, read from `file`. INVALID_ARGUMENT with
// every error as "file:line:column: what" ("; "-separated): an unknown field, a value of the wrong
// type, a syntax error. `locations`, when given, receives where each field was written.
absl::Status ParseTextProto(const std::string& text, const std::string& file, google::protobuf::Message* message,
                            google::protobuf::TextFormat::ParseInfoTree* locations = nullptr);

}  // namespace upshift

#endif  // UPSHIFT_LIBS_COMMON_TEXTPROTO_H_
