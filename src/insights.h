/*-------------------------------------------------------------------------
 *
 * insights.h
 *	  CloudTrail Insights: rollups, baselines and Insight events.
 *
 *-------------------------------------------------------------------------
 */
#ifndef TRAIL_INSIGHTS_H
#define TRAIL_INSIGHTS_H

/*
 * The worker's detection cycle, in the current transaction: does nothing
 * where trail is not installed or no logging trail selects Insights.
 */
extern void trail_insights_pass(void);

#endif							/* TRAIL_INSIGHTS_H */
