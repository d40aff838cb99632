#include "libs/pg/tables.h"

#include "absl/strings/str_cat.h"

namespace upshift::pg {

std::vector<std::pair<std::string, std::string>> UserTables(pqxx::transaction_base& tx,
                                                             const std::string& also_exclude) {
  std::vector<std::pair<std::string, std::string>> tables;
  for (const auto& row : tx.exec_params(
           "SELECT n.nspname, c.relname FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
           "WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition "
           "AND n.nspname NOT IN ('pg_catalog', 'information_schema', $1) AND n.nspname NOT LIKE 'pg\\_toast%' "
           "AND n.nspname NOT LIKE 'pg\\_temp%' ORDER BY 1, 2",
           also_exclude)) {
    tables.emplace_back(row[0].as<std::string>(), row[1].as<std::string>());
  }
  return tables;
}

int64_t CountTableRows(pqxx::transaction_base& tx, const std::string& schema, const std::string& table) {
  return tx.exec1(absl::StrCat("SELECT pg_catalog.count(*) FROM ", tx.quote_name(schema), ".", tx.quote_name(table)))[0]
      .as<int64_t>();
}

std::string ChecksumTable(pqxx::transaction_base& tx, const std::string& schema, const std::string& table) {
  // The row count and the sum of a 64-bit hash of each row's text: independent of the rows' order
  // without sorting every row's hash first, as an ordered aggregate would.
  // Every function and operator named in full: the table is the customer's, its schema may hold
  // functions and operators of the same names that match these arguments better.
  return tx.exec1(absl::StrCat("SELECT pg_catalog.concat(pg_catalog.count(*), ':', "
                               "coalesce(pg_catalog.sum(pg_catalog.hashtextextended(t::pg_catalog.text, 0::pg_catalog.int8)), 0)) FROM ",
                               tx.quote_name(schema), ".", tx.quote_name(table), " AS t"))[0]
      .as<std::string>();
}

}  // namespace upshift::pg
