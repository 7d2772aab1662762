from django.core.paginator import InvalidPage
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.pagination import PageNumberPagination


class Pagination(PageNumberPagination):
    """`?page=` (a page past the last is a 404, DRF's rule) and `?page_size=` (1 or more;
    above 200 gives 200). A page size that is not a whole number is a 400, not the default."""

    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200

    def paginate_lazily(self, queryset, request, view=None):
        """`paginate_queryset`, except that the page is returned as the queryset's slice, not
        evaluated: the incident list reads its rows through it in one query
        (incidents/api/list_rows.py). The response (count, next, previous) is the same."""
        self.request = request
        paginator = self.django_paginator_class(queryset, self.get_page_size(request))
        page_number = self.get_page_number(request, paginator)
        try:
            self.page = paginator.page(page_number)
        except InvalidPage as exc:
            message = self.invalid_page_message.format(page_number=page_number, message=str(exc))
            raise NotFound(message) from None
        self.display_page_controls = paginator.num_pages > 1 and self.template is not None
        return self.page.object_list

    def get_page_size(self, request):
        value = request.query_params.get(self.page_size_query_param)
        if value is None:
            return self.page_size
        if not value.isascii() or not value.isdigit() or int(value) < 1:
            raise ValidationError(
                {self.page_size_query_param: ["page_size must be a whole number, 1 or more."]}
            )
        return min(int(value), self.max_page_size)

    def get_page_number(self, request, paginator):
        if request.query_params.get(self.page_query_param) == "":
            raise NotFound("Invalid page: give a page number, or no ?page=.")
        return super().get_page_number(request, paginator)

    def get_schema_operation_parameters(self, view):
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            parameter["schema"]["minimum"] = 1
            if parameter["name"] == self.page_size_query_param:
                parameter["description"] = (
                    f"Results per page (default {self.page_size}; above "
                    f"{self.max_page_size} gives {self.max_page_size})."
                )
        return parameters
