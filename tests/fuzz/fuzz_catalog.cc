// libFuzzer target: a catalog manifest (catalog.textproto) as Catalog::Load reads it, beside two
// SQL files. Whatever it accepts plans from its first version to its last through every hop.

#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "libs/catalog/catalog.h"

namespace {

std::string Folder() {
  static const std::string dir = [] {
    std::string d = std::filesystem::temp_directory_path() / ("upshift-fuzz-catalog-" + std::to_string(getpid()));
    std::filesystem::create_directories(d + "/sql");
    std::ofstream(d + "/sql/a.sql") << "SELECT 1;";
    std::ofstream(d + "/sql/b.sql") << "SELECT 2;";
    std::ofstream(d + "/neutralize.sql") << "UPDATE ir_mail_server SET active = false;";
    return d;
  }();
  return dir;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > 64 * 1024) return 0;
  const std::string dir = Folder();
  std::ofstream(dir + "/catalog.textproto", std::ios::trunc).write(reinterpret_cast<const char*>(data), size);
  absl::StatusOr<upshift::Catalog> catalog = upshift::Catalog::Load(dir);
  if (!catalog.ok()) return 0;
  const std::vector<std::string>& versions = catalog->versions();
  if (versions.size() < 2) std::abort();  // the loader promises at least two
  absl::StatusOr<std::vector<upshift::Hop>> plan = catalog->Plan(versions.front(), versions.back());
  if (!plan.ok() || plan->size() != versions.size() - 1) std::abort();
  for (size_t i = 0; i < plan->size(); ++i) {
    if ((*plan)[i].from != versions[i] || (*plan)[i].to != versions[i + 1]) std::abort();
  }
  return 0;
}
