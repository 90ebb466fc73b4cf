/* placeholder */
#include "coin/timeframe.h"
