#include "strata/quality/quality.h"
