"""The simulated controllers: a child process and an HTTP client of the server.

``controllerprocess`` (the server's side: the command line, the token on
stdin, start, supervise, stop), ``controllermanager`` (the child's entry
point), ``kubelet`` and ``workloads`` (workload status health checks
believe), ``infrastructure`` (volumes bind, load balancers get an address), ``hpa``
(HorizontalPodAutoscalers keep their target's replicas within min/max),
``collector`` (garbage collection, namespace deletion) and ``apiclient``
(their small API client and informers).

As kube-controller-manager is to kube-apiserver: they reach the server only
over its HTTP API, never its state, so they import nothing of ``registry``,
``storage``, ``endpoints`` or the other layers below the server except
``serializers`` and ``machinery`` (an import-linter contract holds it).
"""
