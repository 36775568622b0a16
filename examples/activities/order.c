/* The order saga's steps (examples/saga), as C activities on Portico's worker, loaded with
 *   build/portico-worker --activities build/examples/liborder.so
 *
 * Each takes the order, {"orderId": "o-1", "items": ["book"], "amount": 42.5, "failAt": "ship"},
 * and answers from the order id alone, so a retried or repeated call gives the same answer and
 * does nothing twice (activities must be idempotent):
 *   order.reserve  -> {"reservationId": "rsv-o-1"}     fails (OutOfStock) when failAt is "reserve"
 *   order.charge   -> {"paymentId": "pay-o-1", "amount": 42.5}  fails (CardDeclined) at "charge"
 *   order.ship     -> {"trackingNumber": "trk-o-1"}    fails (CarrierUnavailable) at "ship"
 * The injected failures are not retryable: the saga compensates at once. With "delayMs", each
 * step takes that long, heartbeating, and stops early when cancelled (to watch the saga, or to
 * cancel it half-way). The compensations take
 * the same order, and undoing what was never done answers the same:
 *   order.release  -> {"released": "rsv-o-1"}
 *   order.refund   -> {"refunded": "pay-o-1", "amount": 42.5} */
#include <string.h>
#include <time.h>

#include "worker.h"

typedef struct step {
	const char *name;       /* what "failAt" names; NULL for a compensation */
	const char *result_key; /* the field of the result */
	const char *prefix;     /* of the id it makes from the order id */
	const char *failure;    /* the error type of an injected failure */
	int with_amount;        /* the result repeats the order's amount */
} step;

static const step reserve_step = {"reserve", "reservationId", "rsv-", "OutOfStock", 0};
static const step charge_step = {"charge", "paymentId", "pay-", "CardDeclined", 1};
static const step ship_step = {"ship", "trackingNumber", "trk-", "CarrierUnavailable", 0};
static const step release_step = {NULL, "released", "rsv-", NULL, 0};
static const step refund_step = {NULL, "refunded", "pay-", NULL, 1};

/* Waits delay_ms in steps of 100 ms, heartbeating; 0, or -1 when the activity was cancelled. */
static int take_time(portico_activity *activity, json_int_t delay_ms)
{
	for (json_int_t waited = 0; waited < delay_ms; waited += 100) {
		if (portico_activity_cancelled(activity))
			return -1;
		struct timespec pause = {0, 100 * 1000000L};
		nanosleep(&pause, NULL);
		portico_activity_heartbeat(activity, json_integer(waited + 100));
	}
	return 0;
}

static int run_step(portico_activity *activity, void *user_data)
{
	const step *s = user_data;
	json_t *order = portico_activity_input_json(activity, 0);
	const char *order_id = json_string_value(json_object_get(order, "orderId"));
	const char *fail_at = json_string_value(json_object_get(order, "failAt"));
	if (!order_id || !*order_id) {
		json_decref(order);
		return portico_activity_fail(activity, "InvalidOrder", 1, 0, "the order has no \"orderId\"");
	}
	if (s->name && fail_at && !strcmp(fail_at, s->name)) {
		int failed = portico_activity_fail(activity, s->failure, 1, 0, "%s failed for order %s (injected)",
		                                   s->name, order_id);
		json_decref(order);
		return failed;
	}
	if (s->name && take_time(activity, json_integer_value(json_object_get(order, "delayMs"))) < 0) {
		json_decref(order);
		return PORTICO_ACTIVITY_CANCELED;
	}
	json_t *result = json_pack("{s:s+}", s->result_key, s->prefix, order_id);
	if (s->with_amount)
		json_object_set(result, "amount", json_object_get(order, "amount"));
	json_decref(order);
	return portico_activity_set_result_json(activity, result);
}

void portico_register_activities(portico_worker *worker)
{
	portico_worker_register(worker, "order.reserve", run_step, (void *)&reserve_step);
	portico_worker_register(worker, "order.charge", run_step, (void *)&charge_step);
	portico_worker_register(worker, "order.ship", run_step, (void *)&ship_step);
	portico_worker_register(worker, "order.release", run_step, (void *)&release_step);
	portico_worker_register(worker, "order.refund", run_step, (void *)&refund_step);
}
