"""Generated code of the shuniu.v1 contract (protos/shuniu/v1/*.proto); import the modules you need."""
