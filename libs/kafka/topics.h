#ifndef UPSHIFT_LIBS_KAFKA_TOPICS_H_
#define UPSHIFT_LIBS_KAFKA_TOPICS_H_

namespace upshift::topics {

inline constexpr char kOrders[] = "upgrade.orders";
inline constexpr char kEvents[] = "upgrade.events";
inline constexpr char kStatus[] = "upgrade.status";
inline constexpr char kDeadLetters[] = "upgrade.dlq";

}  // namespace upshift::topics

#endif  // UPSHIFT_LIBS_KAFKA_TOPICS_H_
