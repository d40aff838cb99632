#ifndef UPSHIFT_LIBS_PG_TABLES_H_
#define UPSHIFT_LIBS_PG_TABLES_H_

// A customer database's tables: listed, counted and checksummed.

#include <cstdint>
#include <pqxx/pqxx>
#include <string>
#include <utility>
#include <vector>


namespace upshift::pg {

// The tables of the database outside the system schemas (and outside `also_exclude`, a schema
// name, when given), as (schema, table), ordered.
std::vector<std::pair<std::string, std::string>> UserTables(pqxx::transaction_base& tx,
                                                             const std::string& also_exclude = "");
// Exact row count of one table.
int64_t CountTableRows(pqxx::transaction_base& tx, const std::string& schema, const std::string& table);
// A content checksum of one table, independent of row order.
std::string ChecksumTable(pqxx::transaction_base& tx, const std::string& schema, const std::string& table);

}  // namespace upshift::pg

#endif  // UPSHIFT_LIBS_PG_TABLES_H_
