helm install cert-manager-webhook-delegate deploy/cert-manager-webhook-delegate --namespace cert-manager --set groupName=acme.example.com --set 'allowedZones={validation.example.org}'
