// placement-driver/schedulers/: PD's schedulers and the controller that runs them. See README.md.
export * from './scheduler.js';
export * from './cluster-view.js';
export * from './balance.js';
export * from './placement.js';
export { ReplicaChecker, canRemoveVoter, checkRegion } from './replica-checker.js';
export { BalanceLeader } from './balance-leader.js';
export { BalanceRegion, REGION_WEIGHT_FLOOR_BYTES, moveTargets, regionScores, regionWeight } from './balance-region.js';
export { MergeChecker, areAdjacent, checkAdminMerge, haveSameStores, isJustBefore, isMergeSmall, type MergeCheck } from './merge-checker.js';
export { HotRegion, HOT_REGION_BYTES_PER_SEC_MIN, HOT_REGIONS_MAX, hotLoads, hotRegions, isHot, leaderHeat } from './hot-region.js';
export { planScatter, type ScatterPlan } from './scatter.js';
export * from './controller.js';
