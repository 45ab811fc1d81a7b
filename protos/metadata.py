"""gRPC metadata keys that belong to the contract: clients send them, servicers read them."""

# The deciding operator's name on a plaintext stack; under mTLS the certificate's name wins.
OPERATOR_METADATA = "shuniu-operator"
