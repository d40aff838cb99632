#include "libs/common/textproto.h"

#include <google/protobuf/io/tokenizer.h>

#include <fstream>
#include <sstream>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace upshift {
namespace {

// The parser's errors, each as "file:line:column: what".
class Errors final : public google::protobuf::io::ErrorCollector {
 public:
  explicit Errors(std::string file) : file_(std::move(file)) {}
  void AddError(int line, int column, const std::string& message) override {
    errors_.push_back(absl::StrCat(file_, ":", line + 1, ":", column + 1, ": ", message));
  }
  void AddWarning(int line, int column, const std::string& message) override { AddError(line, column, message); }
  std::string Text() const { return absl::StrJoin(errors_, "; "); }

 private:
  std::string file_;
  std::vector<std::string> errors_;
};

}  // namespace

absl::StatusOr<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::InvalidArgumentError(absl::StrCat(path, ": cannot read the file"));
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

absl::Status ParseTextProto(const std::string& text, const std::string& file, google::protobuf::Message* message,
                            google::protobuf::TextFormat::ParseInfoTree* locations) {
  google::protobuf::TextFormat::Parser parser;
  Errors errors(file);
  parser.RecordErrorsTo(&errors);
  if (locations != nullptr) parser.WriteLocationsTo(locations);
  if (!parser.ParseFromString(text, message)) return absl::InvalidArgumentError(errors.Text());
  return absl::OkStatus();
}

}  // namespace upshift
