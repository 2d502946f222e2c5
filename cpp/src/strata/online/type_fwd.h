/// \file
/// Forward declarations of the online store's types, for headers that only pass them around.
#pragma once

#include <cstdint>

namespace strata::online {

class OnlineStore;
class EntityKeyEncoder;
class FeatureSelector;
struct OnlineRow;
struct RowBatch;
struct ReadOptions;
struct ReadResult;
struct OnlineStoreConfig;
struct RocksDbOptions;
struct RedisOptions;
struct RedisEndpoint;
struct JoinKey;
struct RowVersion;
struct DecodedRow;
enum class FeatureStatus : uint8_t;
enum class ValueType : uint8_t;

}  // namespace strata::online
