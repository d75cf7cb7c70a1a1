"""Study definitions. This folder is installed as the package ``hpsearch.studies`` so that
``hpsearch study cifar10`` finds its definition from any directory; the YAML files are the data."""
