// Each test boots TCG guests and runs several workers: on a 2-core machine parallel classes starve each other's
// guests, so the classes of this assembly run one after another.
[assembly: CollectionBehavior(DisableTestParallelization = true)]
